"""`diagnose` against simulated tenants: every misconfiguration an operator meets gets the right
verdict, a message that names it, and the fix."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from connector.config import load_settings
from connector.diagnostics import Check, Diagnosis, diagnose, render_text
from entrasim import DEFAULT_PERMISSIONS, SimulatedGraph, make_client_certificate

MakeSim = Callable[..., SimulatedGraph]
OTHER_TENANT = "3c1f5a8e-0d1b-4f7e-9a2c-5b6d7e8f9a0b"


def run_diagnosis(sim: SimulatedGraph, **overrides: Any) -> Diagnosis:
    settings = load_settings(sim.connector_config(**overrides), env={})
    return asyncio.run(diagnose(settings))


def check(diagnosis: Diagnosis, check_id: str) -> Check:
    return next(c for c in diagnosis.checks if c.id == check_id)


def test_a_fully_consented_p2_tenant_is_ready(make_sim: MakeSim) -> None:
    diagnosis = run_diagnosis(make_sim(users=5, licence="P2"))
    assert diagnosis.verdict == "ready"
    assert diagnosis.exit_code == 0
    assert all(c.status == "ok" for c in diagnosis.checks), render_text(diagnosis)
    assert render_text(diagnosis).splitlines()[-1] == "Result: collection can run"


def test_a_wrong_secret_cannot_run_and_says_aadsts7000215_and_the_fix(make_sim: MakeSim) -> None:
    diagnosis = run_diagnosis(make_sim(users=5), client_secret="not-the-secret")
    login = check(diagnosis, "token")
    assert diagnosis.verdict == "cannot_run"
    assert diagnosis.exit_code == 1
    assert (login.status, login.code) == ("failed", "AADSTS7000215")
    assert "wrong client secret" in login.detail
    assert "not its Secret ID" in login.fix
    assert "Invalid client secret provided" in login.evidence


def test_an_expired_secret_cannot_run_and_says_aadsts7000222(make_sim: MakeSim) -> None:
    sim = make_sim(users=5, secret_end_datetime=datetime.now(UTC) - timedelta(days=1))
    diagnosis = run_diagnosis(sim)
    assert check(diagnosis, "token").code == "AADSTS7000222"
    assert check(diagnosis, "credential_expiry").status == "failed"
    assert "Result: collection cannot run" in render_text(diagnosis)


def test_an_unknown_tenant_cannot_run_and_says_aadsts90002(make_sim: MakeSim) -> None:
    diagnosis = run_diagnosis(make_sim(users=5), tenant_id=OTHER_TENANT)
    login = check(diagnosis, "token")
    assert (diagnosis.verdict, login.code) == ("cannot_run", "AADSTS90002")
    assert "tenant was not found" in login.detail
    assert "tenant_id" in login.fix and "cloud" in login.fix


def test_an_unknown_client_id_cannot_run_and_says_aadsts700016(make_sim: MakeSim) -> None:
    diagnosis = run_diagnosis(make_sim(users=5), client_id=OTHER_TENANT)
    assert check(diagnosis, "token").code == "AADSTS700016"
    assert "client_id" in check(diagnosis, "token").fix


def test_a_login_host_with_an_untrusted_certificate_suggests_ca_bundle(
        make_sim: MakeSim) -> None:
    sim = make_sim(users=5)
    config = sim.connector_config()
    del config["ca_bundle"]
    diagnosis = asyncio.run(diagnose(load_settings(config, env={})))
    assert check(diagnosis, "token").code == "TLS"
    assert "ca_bundle" in check(diagnosis, "token").fix


def test_without_user_read_all_a_collection_cannot_run(make_sim: MakeSim) -> None:
    sim = make_sim(users=5, permissions=DEFAULT_PERMISSIONS - {"User.Read.All"})
    diagnosis = run_diagnosis(sim)
    assert diagnosis.exit_code == 1
    assert check(diagnosis, "graph").status == "failed"
    assert check(diagnosis, "graph").detail.startswith("Graph refused to list users")
    assert check(diagnosis, "permission:User.Read.All").status == "missing"


def test_a_missing_required_permission_warns_and_names_what_is_lost(make_sim: MakeSim) -> None:
    sim = make_sim(users=5, permissions=DEFAULT_PERMISSIONS - {"GroupMember.Read.All"})
    diagnosis = run_diagnosis(sim)
    permission = check(diagnosis, "permission:GroupMember.Read.All")
    assert (diagnosis.verdict, diagnosis.exit_code) == ("ready_with_warnings", 0)
    assert permission.status == "missing"
    assert "group memberships" in permission.detail
    assert "Grant admin consent" in permission.fix
    assert check(diagnosis, "feature:groups").status == "unavailable"
    assert ("Result: collection can run, with warnings: required permission "
            "GroupMember.Read.All not granted") in render_text(diagnosis)


def test_a_missing_optional_permission_says_what_it_would_unlock(make_sim: MakeSim) -> None:
    sim = make_sim(users=5,
                   permissions=DEFAULT_PERMISSIONS - {"UserAuthenticationMethod.Read.All"})
    diagnosis = run_diagnosis(sim)
    permission = check(diagnosis, "permission:UserAuthenticationMethod.Read.All")
    assert (diagnosis.verdict, diagnosis.exit_code) == ("ready", 0)
    assert permission.status == "unavailable"
    assert permission.detail.startswith("not granted; would unlock: Per-user MFA methods")
    assert check(diagnosis, "feature:mfa_methods").status == "unavailable"


def test_a_free_tenant_runs_without_the_licensed_features_and_says_why(
        make_sim: MakeSim) -> None:
    diagnosis = run_diagnosis(make_sim(users=5, licence="free"))
    assert (diagnosis.verdict, diagnosis.exit_code) == ("ready", 0)
    for feature in ("feature:last_sign_in", "feature:mfa_report", "feature:risky_users"):
        found = check(diagnosis, feature)
        assert found.status == "unavailable", feature
        assert "no Microsoft Entra ID P" in found.detail
    assert check(diagnosis, "feature:mfa_methods").status == "ok"
    assert "not collected: last sign-in (signInActivity), MFA registration report" \
        in render_text(diagnosis)


def test_a_p1_tenant_has_sign_ins_but_risky_users_need_p2(make_sim: MakeSim) -> None:
    diagnosis = run_diagnosis(make_sim(users=5, licence="P1"))
    assert check(diagnosis, "feature:last_sign_in").status == "ok"
    assert "no Microsoft Entra ID P2 licence" in check(diagnosis, "feature:risky_users").detail


def test_a_secret_expiring_in_30_days_warns_but_can_run(make_sim: MakeSim) -> None:
    sim = make_sim(users=5, secret_end_datetime=datetime.now(UTC) + timedelta(days=30))
    diagnosis = run_diagnosis(sim)
    expiry = check(diagnosis, "credential_expiry")
    assert (diagnosis.verdict, diagnosis.exit_code) == ("ready_with_warnings", 0)
    assert expiry.status == "warning"
    assert "in 30 days (within the 90-day warning window)" in expiry.detail
    assert "matching the one in use" in expiry.detail
    assert "the client secret expires in 30 days" in render_text(diagnosis)


def test_a_secret_expiring_in_200_days_is_fine(make_sim: MakeSim) -> None:
    sim = make_sim(users=5, secret_end_datetime=datetime.now(UTC) + timedelta(days=200))
    diagnosis = run_diagnosis(sim)
    assert diagnosis.verdict == "ready"
    assert check(diagnosis, "credential_expiry").status == "ok"
    assert "in 200 days" in check(diagnosis, "credential_expiry").detail


def test_a_wider_warning_window_warns_about_the_200_day_secret(make_sim: MakeSim) -> None:
    sim = make_sim(users=5, secret_end_datetime=datetime.now(UTC) + timedelta(days=200))
    diagnosis = run_diagnosis(sim, expiry_warning_days=365)
    assert check(diagnosis, "credential_expiry").status == "warning"


def test_without_application_read_all_the_secret_end_is_unknown_and_says_how_to_know(
        make_sim: MakeSim) -> None:
    sim = make_sim(users=5, permissions=DEFAULT_PERMISSIONS - {"Application.Read.All"})
    diagnosis = run_diagnosis(sim)
    expiry = check(diagnosis, "credential_expiry")
    assert diagnosis.verdict == "ready"
    assert expiry.status == "unknown"
    assert "grant it (optional, read-only) to be warned before the secret expires" \
        in expiry.detail


def test_a_certificate_close_to_expiry_warns_from_its_file(make_sim: MakeSim,
                                                          tmp_path: Path) -> None:
    certificate = make_client_certificate(valid_days=20)
    sim = make_sim(users=5, certificate_pem=certificate.cert_pem)
    pem = tmp_path / "connector.pem"
    pem.write_bytes(certificate.pem)
    diagnosis = run_diagnosis(sim, certificate_path=pem)
    expiry = check(diagnosis, "credential_expiry")
    assert (diagnosis.verdict, diagnosis.exit_code) == ("ready_with_warnings", 0)
    assert (expiry.name, expiry.status) == ("certificate", "warning")
    assert "in 20 days" in expiry.detail
    assert str(pem) in expiry.detail
    assert "upload it to the app registration" in expiry.fix


def test_an_expired_certificate_cannot_log_in_and_says_when_it_expired(
        make_sim: MakeSim, tmp_path: Path) -> None:
    certificate = make_client_certificate(not_after=datetime.now(UTC) - timedelta(days=3))
    sim = make_sim(users=5, certificate_pem=certificate.cert_pem)
    pem = tmp_path / "connector.pem"
    pem.write_bytes(certificate.pem)
    diagnosis = run_diagnosis(sim, certificate_path=pem)
    assert check(diagnosis, "token").code == "AADSTS700027"
    expiry = check(diagnosis, "credential_expiry")
    assert expiry.status == "failed"
    assert expiry.detail.startswith("expired on ")


def test_a_us_government_tenant_domain_on_the_global_cloud_is_flagged(make_sim: MakeSim) -> None:
    diagnosis = run_diagnosis(make_sim(users=5), tenant_id="contoso.onmicrosoft.us")
    assert check(diagnosis, "cloud").status == "warning"
    assert "set cloud to usgov or usgov-dod" in check(diagnosis, "cloud").detail
    assert check(diagnosis, "token").code == "AADSTS90002"
