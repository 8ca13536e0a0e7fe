"""Compare emitted sign-in events (OCSF 3002) with the simulated tenant's own Graph records.

The expectation is derived here from the raw record, independently of the mapping module, so a
wrong rule in the mapping shows up as a mismatch rather than being copied into the test.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from connector.validation import EventValidator

RISK_LEVEL_IDS = {"none": 0, "low": 1, "medium": 2, "high": 3}
ACTIONS = {"success": 1, "failure": 2}


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def _present(value: Any) -> bool:
    return value not in (None, "")


def sign_in_mismatches(event: Mapping[str, Any], record: Mapping[str, Any]) -> list[str]:
    """Every way `event` disagrees with the Graph `record` it came from."""
    rid = record["id"]
    out: list[str] = []

    def check(name: str, got: Any, want: Any) -> None:
        if got != want:
            out.append(f"{rid} {name}: got {got!r}, want {want!r}")

    check("class_uid", event.get("class_uid"), 3002)
    check("activity_id", event.get("activity_id"), 1)
    check("time", event.get("time"), _ms(record["createdDateTime"]))
    metadata = event["metadata"]
    check("metadata.uid", metadata.get("uid"), rid)
    check("correlation_uid", metadata.get("correlation_uid"), record.get("correlationId"))
    user = event["user"]
    check("user.uid", user.get("uid"), record["userId"])
    check("user.name", user.get("name"), record["userDisplayName"])
    check("user.account.name", user["account"].get("name"), record["userPrincipalName"])
    code = record["status"]["errorCode"]
    check("status_code", event.get("status_code"), str(code))
    check("status_id", event.get("status_id"), 1 if code == 0 else 2)
    if code != 0 and _present(record["status"].get("failureReason")):
        check("status_detail startswith failureReason",
              str(event.get("status_detail", "")).startswith(record["status"]["failureReason"]),
              True)
    check("src_endpoint.ip", event.get("src_endpoint", {}).get("ip"), record.get("ipAddress"))
    location = event.get("src_endpoint", {}).get("location", {})
    where = record.get("location") or {}
    check("location.city", location.get("city"), where.get("city") or None)
    check("location.country", location.get("country"), where.get("countryOrRegion") or None)
    check("service.uid", event.get("service", {}).get("uid"), record.get("appId"))
    check("service.name", event.get("service", {}).get("name"), record.get("appDisplayName"))
    detail = record.get("deviceDetail") or {}
    device = event.get("device", {})
    check("device.uid", device.get("uid"), detail.get("deviceId") or None)
    check("device.name", device.get("name"), detail.get("displayName") or None)
    check("device.is_compliant", device.get("is_compliant"), detail.get("isCompliant"))
    check("device.is_managed", device.get("is_managed"), detail.get("isManaged"))
    check("device.os.name", device.get("os", {}).get("name"),
          detail.get("operatingSystem") or None)
    check("trustType", event.get("unmapped", {}).get("deviceDetail", {}).get("trustType"),
          detail.get("trustType") or None)
    check("risk_level_id", event.get("risk_level_id"),
          RISK_LEVEL_IDS.get(record.get("riskLevelDuringSignIn", "")))
    check("action_id", event.get("action_id"), ACTIONS.get(record.get("conditionalAccessStatus")))
    check("conditionalAccessStatus", event.get("unmapped", {}).get("conditionalAccessStatus"),
          record.get("conditionalAccessStatus"))
    requirement = record.get("authenticationRequirement")
    want_mfa = ({"multiFactorAuthentication": True, "singleFactorAuthentication": False}
                .get(requirement) if code == 0 else None)
    check("is_mfa", event.get("is_mfa"), want_mfa)
    enforced = {(p["id"], p["result"]) for p in record.get("appliedConditionalAccessPolicies", ())
                if p.get("result") != "notEnabled"}
    check("authorizations", {(a["policy"]["uid"], a["decision"])
                             for a in event.get("authorizations", ())}, enforced)
    return out


def assert_sign_ins_match(events: Sequence[Mapping[str, Any]],
                          records: Iterable[Mapping[str, Any]]) -> None:
    """Each record delivered exactly once, as a valid event equal to it field by field."""
    by_id = {r["id"]: r for r in records}
    counts = Counter(e["metadata"]["uid"] for e in events)
    assert set(counts) == set(by_id), (
        f"missing {len(set(by_id) - set(counts))}, unexpected {len(set(counts) - set(by_id))}")
    assert max(counts.values(), default=1) == 1, "a sign-in was delivered twice"
    validator = EventValidator()
    problems = [p for e in events for p in validator.errors(e)]
    assert problems == [], problems[:5]
    wrong = [m for e in events for m in sign_in_mismatches(e, by_id[e["metadata"]["uid"]])]
    assert wrong == [], wrong[:10]


def sign_in_events(events: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [e for e in events if e.get("class_uid") == 3002]
