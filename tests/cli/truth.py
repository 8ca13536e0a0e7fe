"""Compare emitted events with a simulated tenant's ground truth, field by field.

Shared by the CLI end-to-end tests and the plugin-level integration tests. Each expectation says
whether a fact must be known (`True`), must be absent because it is unknown (`False`), or may be
either (`None`, e.g. MFA on a tenant where the per-user fallback is capped); a known value must
always equal the truth, and an unknown one is never reported as false.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from connector.validation import EventValidator
from entrasim import ExpectedUser, SimulatedGraph

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True, slots=True)
class Known:
    """Which facts a run must have collected (True), must not have (False), or may have (None)."""

    mfa: bool | None = True  # True: known for every enabled user (disabled ones may be unknown)
    sign_in: bool = True
    groups: bool = True
    roles: bool = True
    manager: bool = True
    # None by default: a P2 tenant reports it, a free or P1 tenant cannot; either way a reported
    # risk level must be the true one.
    risk: bool | None = None


# Identity Protection's riskLevel -> OCSF user.risk_level_id (0 "Info" = no risk detected).
RISK_LEVEL_IDS = {"none": 0, "low": 1, "medium": 2, "high": 3}


def _ms(moment: datetime | None) -> int | None:
    if moment is None:
        return None
    return int(moment.astimezone(UTC).timestamp() * 1000)


def _account_data(event: Mapping[str, Any]) -> Mapping[str, Any]:
    for enrichment in event.get("enrichments", ()):
        if enrichment.get("name") == "account":
            data: Mapping[str, Any] = enrichment.get("data", {})
            return data
    return {}


def mismatches(event: Mapping[str, Any], truth: ExpectedUser, known: Known) -> list[str]:
    """Every way `event` disagrees with `truth` (empty when it is right)."""
    user = event["user"]
    data = _account_data(event)
    uid = truth.id
    out: list[str] = []

    def check(name: str, got: Any, want: Any) -> None:
        if got != want:
            out.append(f"{uid} {name}: got {got!r}, want {want!r}")

    check("uid", user.get("uid"), truth.id)
    check("account.name", user["account"].get("name"), truth.upn)
    check("is_disabled", user["account"].get("is_disabled"), not truth.enabled)
    check("is_enabled", data.get("is_enabled"), truth.enabled)
    check("user_type", data.get("user_type"), "Guest" if truth.is_guest else "Member")
    check("domain", user.get("domain"), truth.upn.rpartition("@")[2])
    if truth.mail and "#EXT#" not in truth.mail:
        check("email_addr", user.get("email_addr"), truth.mail)
    check("name", user.get("name"), truth.display_name)

    groups = {(g["uid"], g.get("name")) for g in user.get("groups", ())}
    if known.groups:
        check("groups", groups, set(truth.groups))
    elif "groups" in user:
        out.append(f"{uid} groups reported although they were not collected")

    admin_roles = set(data.get("admin_roles", ()))
    if known.roles:
        check("type_id", user.get("type_id"), 2 if truth.roles else 1)
        check("admin_roles", admin_roles, set(truth.roles))
        check("is_admin", data.get("is_admin"), bool(truth.roles))
    else:
        for key in ("type_id", "type"):
            if key in user:
                out.append(f"{uid} {key} reported although roles were not collected")
        if "is_admin" in data or admin_roles:
            out.append(f"{uid} admin facts reported although roles were not collected")

    if "has_mfa" in user:
        if known.mfa is False:
            out.append(f"{uid} has_mfa reported although MFA was not collected")
        check("has_mfa", user["has_mfa"], truth.has_strong_mfa)
        check("is_mfa", data.get("is_mfa"), truth.has_strong_mfa)
    elif known.mfa and truth.enabled:
        # Disabled users may stay unknown: `mfa_fallback: auto` spends no lookup on them.
        out.append(f"{uid} has_mfa missing although MFA was collected")
    if "is_mfa" in data and "has_mfa" not in user:
        out.append(f"{uid} is_mfa without has_mfa")

    last = event["user"].get("ldap_person", {}).get("last_login_time")
    if known.sign_in:
        want = _ms(truth.last_successful_sign_in) or _ms(truth.last_sign_in)
        check("last_login_time", last, want)
    elif last is not None or "last_logon" in data:
        out.append(f"{uid} last sign-in reported although it was not collected")

    risk_facts = [key for key in ("risk_level", "risk_state", "risk_updated_time") if key in data]
    if "risk_level_id" in user:
        if known.risk is False:
            out.append(f"{uid} risk level reported although it was not collected")
        check("risk_level_id", user["risk_level_id"], RISK_LEVEL_IDS[truth.risk_level])
        check("data.risk_level", data.get("risk_level"), truth.risk_level)
        check("data.risk_state", data.get("risk_state"), truth.risk_state)
    elif known.risk:
        out.append(f"{uid} risk_level_id missing although risk was collected")
    elif risk_facts:
        out.append(f"{uid} {risk_facts} without risk_level_id")

    manager = event["user"].get("ldap_person", {}).get("manager", {}).get("uid")
    if known.manager:
        check("manager", manager, truth.manager_id)
    return out


def load_events(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def assert_valid(events: Sequence[Mapping[str, Any]]) -> None:
    validator = EventValidator()
    problems = [(e["user"]["uid"], validator.errors(e)) for e in events]
    bad = [(uid, errors) for uid, errors in problems if errors]
    assert not bad, f"{len(bad)} invalid events, first: {bad[:3]}"


def assert_matches_truth(events: Sequence[Mapping[str, Any]], truth: Mapping[str, ExpectedUser],
                         known: Known, expected_ids: Iterable[str] | None = None) -> None:
    """Exactly one event per expected user, each agreeing with the truth."""
    ids = [e["user"]["uid"] for e in events]
    assert len(ids) == len(set(ids)), "a user was emitted twice"
    wanted = set(truth if expected_ids is None else expected_ids)
    assert set(ids) == wanted, (
        f"missing {len(wanted - set(ids))}, unexpected {len(set(ids) - wanted)}")
    problems = [p for e in events for p in mismatches(e, truth[e["user"]["uid"]], known)]
    assert not problems, f"{len(problems)} mismatches, first: {problems[:10]}"


def write_config(directory: Path, sim: SimulatedGraph, **overrides: Any) -> Path:
    path = directory / "config.json"
    path.write_text(json.dumps(sim.connector_config(**overrides)), encoding="utf-8")
    return path


def connector(*args: str | Path, timeout: float = 180,
              env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m connector ARGS` in a subprocess, as a user would run it."""
    return subprocess.run(
        [sys.executable, "-m", "connector", *map(str, args)],
        cwd=REPO, capture_output=True, text=True, timeout=timeout,
        env=None if env is None else dict(env),
    )


def latest_per_user(events: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """What a SIEM keeping the latest event per `user.uid` holds after `events`, in order."""
    return {event["user"]["uid"]: event for event in events}


def account_data(event: Mapping[str, Any]) -> Mapping[str, Any]:
    """The `account` enrichment's data (empty when the event has none)."""
    return _account_data(event)


def inventory_problems(held: Mapping[str, Mapping[str, Any]], truth: Mapping[str, ExpectedUser],
                       known: Known = Known(risk=True), skip: Iterable[str] = ()) -> list[str]:
    """Every way the latest events disagree with the truth, deleted users included: a deleted
    user's event carries `deleted_time` and says `soft` or `hard`; a present one does not."""
    out: list[str] = []
    skipped = set(skip)
    for uid, expected in truth.items():
        if uid in skipped:
            continue
        event = held.get(uid)
        if event is None:
            out.append(f"{uid}: no event")
            continue
        person = event["user"].get("ldap_person", {})
        deletion = _account_data(event).get("deletion")
        if expected.deleted:
            if "deleted_time" not in person:
                out.append(f"{uid}: deleted ({expected.deleted}) but no deleted_time")
            if deletion != expected.deleted:
                out.append(f"{uid}: deletion {deletion!r}, want {expected.deleted!r}")
        else:
            if "deleted_time" in person or deletion is not None:
                out.append(f"{uid}: present but marked deleted")
            out += mismatches(event, expected, known)
    return out
