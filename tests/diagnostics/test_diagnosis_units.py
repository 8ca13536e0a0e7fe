"""The diagnosis' judgements on their own: which secret is in use, when an end date deserves a
warning, and what each login failure means."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connector.clouds import CLOUDS
from connector.diagnostics import (
    AADSTS,
    CredentialExpiry,
    explain_login_failure,
    judge_expiry,
    secret_in_use,
)

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
GLOBAL = CLOUDS["global"]


def _secret(hint: str, days: float) -> dict[str, str]:
    end = NOW + timedelta(days=days)
    return {"hint": hint, "endDateTime": end.strftime("%Y-%m-%dT%H:%M:%SZ")}


# --- which secret is in use -------------------------------------------------------------------

def test_the_secret_in_use_is_picked_out_by_its_first_three_characters() -> None:
    ends, how, _ = secret_in_use([_secret("abc", 10), _secret("xyz", 400)], "xyz-secret", NOW)
    assert ends == NOW + timedelta(days=400)
    assert "matching the one in use" in how


def test_without_a_matching_hint_the_soonest_valid_secret_is_reported() -> None:
    ends, how, _ = secret_in_use([_secret("abc", 300), _secret("def", 45)], "zzz-secret", NOW)
    assert ends == NOW + timedelta(days=45)
    assert "could not be told apart" in how


def test_expired_secrets_are_never_taken_for_the_one_in_use_but_are_noted() -> None:
    ends, how, notes = secret_in_use([_secret("old", -20), _secret("new", 200)], "zzz", NOW)
    assert ends == NOW + timedelta(days=200)
    assert how == "the app registration's only valid secret"
    assert notes == ("1 expired client secret(s) still registered on the app: delete them so "
                     "nobody wonders which one is in use",)


def test_no_valid_secret_with_an_end_date_means_the_end_is_unknown() -> None:
    ends, _, _ = secret_in_use([{"hint": "abc", "endDateTime": None}], "abc-secret", NOW)
    assert ends is None


# --- when an end date deserves a warning ------------------------------------------------------

def test_an_end_date_inside_the_window_is_a_warning_with_date_and_days() -> None:
    check = judge_expiry(CredentialExpiry("client secret", NOW + timedelta(days=30)), 90, NOW)
    assert check.status == "warning"
    assert "expires on 2026-12-01, in 30 days (within the 90-day warning window)" in check.detail
    assert "create a new client secret" in check.fix


def test_an_end_date_beyond_the_window_is_ok() -> None:
    check = judge_expiry(CredentialExpiry("client secret", NOW + timedelta(days=200)), 90, NOW)
    assert check.status == "ok"
    assert check.detail.startswith("expires on 2027-05-20, in 200 days")


def test_the_window_is_configurable() -> None:
    check = judge_expiry(CredentialExpiry("client secret", NOW + timedelta(days=200)), 365, NOW)
    assert check.status == "warning"


def test_a_past_end_date_fails() -> None:
    check = judge_expiry(CredentialExpiry("certificate", NOW - timedelta(days=2)), 90, NOW)
    assert check.status == "failed"
    assert check.detail.startswith("expired on 2026-10-30")
    assert "upload it to the app registration" in check.fix


def test_an_unknown_end_date_says_why() -> None:
    check = judge_expiry(CredentialExpiry("client secret", None, unknown_reason="no access"),
                         90, NOW)
    assert (check.status, check.detail) == ("unknown", "end date unknown: no access")


# --- what a login failure means ---------------------------------------------------------------

def _entra(code: int, text: str) -> str:
    return (f"could not obtain a token: Microsoft Entra ID error '(invalid_client) AADSTS{code}: "
            f"{text} Trace ID: 1 Correlation ID: 2 Timestamp: 2026-11-01 12:00:00Z'")


@pytest.mark.parametrize(("code", "words"), [
    (7000215, "wrong client secret"),
    (7000222, "client secret has expired"),
    (90002, "tenant was not found"),
    (700016, "application (client_id) was not found"),
    (900439, "wrong cloud"),
    (700027, "certificate was refused"),
])
def test_each_common_aadsts_code_gets_its_plain_meaning(code: int, words: str) -> None:
    failure = explain_login_failure(_entra(code, "Entra's own words."), GLOBAL)
    assert failure.code == f"AADSTS{code}"
    assert words in failure.meaning
    assert failure.fix == AADSTS[code].fix or failure.fix.startswith(AADSTS[code].fix)
    assert failure.entra_said == "Entra's own words."


def test_tenant_not_found_names_the_login_host_and_cloud_asked() -> None:
    failure = explain_login_failure(_entra(90002, "Tenant 'x' not found."), CLOUDS["usgov"])
    assert "the connector asked https://login.microsoftonline.us (usgov cloud)" in failure.fix


def test_an_unknown_aadsts_code_points_to_microsofts_error_lookup() -> None:
    failure = explain_login_failure(_entra(123456, "Something new."), GLOBAL)
    assert failure.code == "AADSTS123456"
    assert "https://login.microsoftonline.com/error?code=123456" in failure.fix


def test_an_untrusted_certificate_on_the_login_host_suggests_ca_bundle() -> None:
    failure = explain_login_failure(
        "could not obtain a token: Cannot connect to host login.microsoftonline.com:443 "
        "ssl:True [SSLCertVerificationError: (1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate "
        "verify failed: self-signed certificate in certificate chain')]", GLOBAL)
    assert failure.code == "TLS"
    assert "ca_bundle" in failure.fix


def test_an_unreachable_login_host_suggests_the_proxy_and_firewall() -> None:
    failure = explain_login_failure(
        "could not obtain a token: Cannot connect to host login.microsoftonline.com:443 "
        "ssl:default [Connect call failed]", GLOBAL)
    assert failure.code == "NETWORK"
    assert "HTTPS_PROXY" in failure.fix
