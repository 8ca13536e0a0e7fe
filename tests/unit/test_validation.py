"""Specification of connector.validation: schema errors plus the rules the schema cannot express."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest

from connector.ocsf.user_inventory import (
    EXAMPLE_COLLECTED_AT_MS,
    EXAMPLE_FACTS,
    EXAMPLE_PRODUCT,
    EXAMPLE_TENANT_ID,
    example_user,
    to_event,
)
from connector.validation import EventValidator, LineError, validate_ndjson

VALIDATOR = EventValidator()
GOOD = to_event(
    example_user(),
    EXAMPLE_FACTS,
    collected_at_ms=EXAMPLE_COLLECTED_AT_MS,
    tenant_id=EXAMPLE_TENANT_ID,
    product=EXAMPLE_PRODUCT,
)


def good() -> dict[str, Any]:
    return copy.deepcopy(GOOD)


def test_a_mapped_event_has_no_errors() -> None:
    assert VALIDATOR.errors(good()) == []
    assert VALIDATOR.is_valid(good())


def test_wrong_type_is_reported_with_its_json_path() -> None:
    event = good()
    event["user"]["account"]["type_id"] = "6"
    assert ("$.user.account.type_id", "'6' is not of type 'integer'") in VALIDATOR.errors(event)


def test_list_items_are_indexed_in_the_path() -> None:
    event = good()
    event["user"]["groups"][1]["uid"] = 7
    assert [path for path, _ in VALIDATOR.errors(event)] == ["$.user.groups[1].uid"]


def test_missing_required_field_is_reported_on_its_parent() -> None:
    event = good()
    del event["time"]
    assert VALIDATOR.errors(event) == [("$", "'time' is a required property")]


def test_unknown_key_is_rejected() -> None:
    event = good()
    event["user"]["cloud"] = {"provider": "Azure"}
    assert VALIDATOR.errors(event) == [
        ("$.user", "Additional properties are not allowed ('cloud' was unexpected)")
    ]


def test_null_is_rejected() -> None:
    event = good()
    event["user"]["name"] = None
    assert VALIDATOR.errors(event) == [("$.user.name", "None is not of type 'string'")]


def test_at_least_one_constraint_names_the_alternatives() -> None:
    event = good()
    event["user"]["ldap_person"]["manager"] = {"email_addr": "boss@contoso.com"}
    assert VALIDATOR.errors(event) == [
        ("$.user.ldap_person.manager", "needs at least one of: account, name, uid")
    ]


def test_invalid_email_is_rejected() -> None:
    event = good()
    event["user"]["email_addr"] = "not an address"
    assert [path for path, _ in VALIDATOR.errors(event)] == ["$.user.email_addr"]


def test_long_messages_are_truncated() -> None:
    event = good()
    event["user"]["uid"] = ["x" * 10_000]
    ((path, message),) = VALIDATOR.errors(event)
    assert path == "$.user.uid" and len(message) <= 300 and message.endswith("…")


@pytest.mark.parametrize(
    ("path", "value", "caption"),
    [
        (("class_name",), "Device Inventory Info", "class_name"),
        (("category_name",), "Findings", "category_name"),
        (("activity_name",), "Log", "activity_name"),
        (("type_name",), "User Inventory Info: Log", "type_name"),
        (("severity",), "High", "severity"),
        (("user", "type"), "User", "user.type"),
        (("user", "account", "type"), "AWS IAM User", "user.account.type"),
    ],
)
def test_caption_that_disagrees_with_its_id_is_reported(
    path: tuple[str, ...], value: str, caption: str
) -> None:
    event = good()
    target = event
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    errors = VALIDATOR.errors(event)
    assert [p for p, _ in errors] == [f"$.{caption}"]
    assert "does not match" in errors[0][1]


def test_manager_captions_are_checked_too() -> None:
    event = good()
    event["user"]["ldap_person"]["manager"].update(type_id=2, type="User")
    assert [p for p, _ in VALIDATOR.errors(event)] == ["$.user.ldap_person.manager.type"]


def test_other_id_lets_the_source_choose_the_caption() -> None:
    event = good()
    event["user"]["account"].update(type_id=99, type="Entra ID workload identity")
    assert VALIDATOR.errors(event) == []


def test_type_uid_must_be_class_uid_times_100_plus_activity_id() -> None:
    event = good()
    event.update(activity_id=1, activity_name="Log")
    assert VALIDATOR.errors(event) == [
        ("$.type_uid", "500302 is not class_uid * 100 + activity_id (500301)")
    ]


def test_metadata_version_must_be_1_8_0() -> None:
    event = good()
    event["metadata"]["version"] = "1.7.0"
    assert VALIDATOR.errors(event) == [
        ("$.metadata.version", "'1.7.0' is not the schema's version '1.8.0'")
    ]


@pytest.mark.parametrize(
    ("where", "value", "kind"),
    [
        (("user", "domain"), " ", "string"),
        (("user", "groups"), [], "list"),
        (("user", "org"), {}, "object"),
    ],
)
def test_empty_placeholders_are_reported(where: tuple[str, str], value: Any, kind: str) -> None:
    event = good()
    event[where[0]][where[1]] = value
    path = f"$.{where[0]}.{where[1]}"
    assert (path, f"empty placeholder {kind}") in VALIDATOR.errors(event)


def test_empty_placeholders_inside_free_form_enrichment_data_are_reported() -> None:
    event = good()
    event["enrichments"][0]["data"]["odd key"] = ""
    assert VALIDATOR.errors(event) == [
        ('$.enrichments[0].data["odd key"]', "empty placeholder string")
    ]


def test_a_non_object_event_is_an_error_not_a_crash() -> None:
    assert VALIDATOR.errors([1, 2]) == [("$", "[1, 2] is not of type 'object'")]


# --- NDJSON files


def test_ndjson_report_counts_events_and_gives_line_numbers(tmp_path: Path) -> None:
    bad = good()
    bad["severity_id"] = 7
    path = tmp_path / "events.ndjson"
    path.write_bytes(
        b"\n".join([orjson.dumps(GOOD), b"", orjson.dumps(bad), b"{not json", orjson.dumps(GOOD)])
        + b"\n"
    )
    report = validate_ndjson(path)
    assert (report.events, report.valid, report.invalid, report.ok) == (4, 2, 2, False)
    assert [(e.line, e.path) for e in report.errors] == [(3, "$.severity_id"), (4, "$")]
    assert report.errors[1].message.startswith("not valid JSON")


def test_ndjson_accepts_a_path_as_text(tmp_path: Path) -> None:
    path = tmp_path / "events.ndjson"
    path.write_bytes(orjson.dumps(GOOD) + b"\n")
    report = validate_ndjson(str(path))
    assert (report.events, report.ok) == (1, True)


def test_ndjson_accepts_lines_from_memory() -> None:
    report = validate_ndjson([orjson.dumps(GOOD).decode(), "[]"])
    assert (report.events, report.valid) == (2, 1)
    assert report.errors == [LineError(2, "$", "[] is not of type 'object'")]
    assert str(report.errors[0]) == "line 2: $: [] is not of type 'object'"
