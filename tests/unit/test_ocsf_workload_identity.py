"""Specification of connector.ocsf.workload_identity: a service principal and what it holds
(credentials, application permissions, consents, owners, SSO roster) to one OCSF 5003 event of
a non-human account; unknown omitted; every event valid; the MAPPING table tells the truth."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.ocsf import workload_identity as wi
from connector.validation import EventValidator
from tests.unit.test_mapping_doc import leaf_paths, values_at

VALIDATOR = EventValidator()
NOW = wi.EXAMPLE_COLLECTED_AT_MS


def event(sp: dict[str, Any] | None = None, facts: wi.WorkloadFacts | None = None,
          **changes: Any) -> dict[str, Any]:
    record = wi.example_service_principal() if sp is None else sp
    record.update(changes)
    return wi.to_event(record, wi._example_facts() if facts is None else facts,
                       collected_at_ms=NOW, tenant_id=wi.EXAMPLE_TENANT_ID,
                       product=wi.EXAMPLE_PRODUCT)


def enrichment(ev: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(e["data"] for e in ev["enrichments"] if e["name"] == name)
    return found


def full_event() -> dict[str, Any]:
    return event(facts=replace(wi._example_facts(), deleted=wi.Deletion("soft", "2026-01-02T03:04:05Z")))


def test_a_service_principal_is_a_service_account_keyed_by_object_id_with_the_app_id_beside() -> None:
    user = event()["user"]
    assert (user["type_id"], user["type"]) == (4, "Service")
    assert user["uid"] == "5b0e6a4c-0000-4000-8000-00000000a001"
    assert user["uid_alt"] == user["account"]["name"] == "c1a2b3c4-0000-4000-8000-00000000a002"
    assert user["account"]["uid"] == user["uid"]


def test_every_secret_and_certificate_is_a_programmatic_credential_with_its_expiry_enriched() -> None:
    ev = event()
    creds = ev["user"]["programmatic_credentials"]
    assert {(c["uid"], c["type"]) for c in creds} == {
        ("0c0c0c0c-0000-4000-8000-00000000c003", "AsymmetricX509Cert"),
        ("0d0d0d0d-0000-4000-8000-00000000d004", "Client secret")}
    items = {i["uid"]: i for i in enrichment(ev, "credentials")["items"]}
    secret = items["0d0d0d0d-0000-4000-8000-00000000d004"]
    assert secret["end_time"] == 1_768_899_600_000 and secret["is_expired"] is False
    assert secret["source"] == "application" and secret["start_time"] < secret["end_time"]


def test_an_expired_credential_is_counted_and_not_the_next_to_expire() -> None:
    app = {"passwordCredentials": [
        {"keyId": "a", "endDateTime": "2025-06-01T00:00:00Z"},
        {"keyId": "b", "endDateTime": "2026-03-01T00:00:00Z"}]}
    data = enrichment(event(facts=wi.WorkloadFacts(credentials=wi.credentials_of(app, "application"))),
                      "credentials")
    assert data["expired"] == 1
    assert data["next_end_time"] == wi.epoch_ms("2026-03-01T00:00:00Z")


def test_a_high_impact_application_permission_is_flagged_by_name() -> None:
    data = enrichment(event(), "app_permissions")
    assert data["high_impact"] == ["Mail.ReadWrite"]
    assert data["items"][0] | {} == {"resource_uid": "7e7e7e7e-0000-4000-8000-00000000e005",
                                     "app_role_uid": "e2a3a72e-5f79-4c64-b1b1-878b674786c9",
                                     "is_high_impact": True, "resource": "Microsoft Graph",
                                     "permission": "Mail.ReadWrite"}


def test_a_low_impact_permission_is_not_flagged() -> None:
    facts = wi.WorkloadFacts(app_permissions=(wi.AppPermission("r", "Microsoft Graph", "User.Read.All", "x"),))
    data = enrichment(event(facts=facts), "app_permissions")
    assert data["items"][0]["is_high_impact"] is False and "high_impact" not in data


def test_consents_say_tenant_wide_or_how_many_users() -> None:
    facts = wi.WorkloadFacts(consents=(
        wi.Consent("g", "Microsoft Graph", ("User.Read", "Mail.Read"), all_users=True),
        wi.Consent("s", "SharePoint", ("AllSites.Read",), all_users=False, users=7)))
    data = enrichment(event(facts=facts), "delegated_consents")
    assert data["is_tenant_wide"] is True and data["users"] == 7 and data["count"] == 2
    assert data["high_impact"] == ["Mail.Read"]


def test_owners_carry_the_user_inventory_uids() -> None:
    data = enrichment(event(), "owners")
    assert data == {"count": 1, "items": [{"uid": "3f1c2d4e-1111-4222-8333-444455556666",
                                           "name": "Jane Doe", "account_name": "jane.doe@contoso.com"}]}


def test_roster_size_counts_users_and_groups_and_names_the_sso_mode() -> None:
    data = enrichment(event(), "sso")
    assert data == {"roster_size": 42, "users": 40, "groups": 2, "mode": "saml"}


@pytest.mark.parametrize(("owner", "kind", "origin"), [
    ("f8cdef31-a31e-4b4a-93e4-5f571e91255a", "Application", "first_party"),
    (wi.EXAMPLE_TENANT_ID, "Application", "this_tenant"),
    ("11111111-2222-4333-8444-555555555555", "Application", "third_party"),
    (None, "ManagedIdentity", "managed_identity"),
])
def test_origin_tells_microsoft_this_tenant_third_party_and_managed_identities_apart(
        owner: str | None, kind: str, origin: str) -> None:
    ev = event(appOwnerOrganizationId=owner, servicePrincipalType=kind)
    assert enrichment(ev, "workload")["origin"] == origin


def test_uncollected_facts_leave_their_enrichments_out_and_none_is_zero() -> None:
    bare = event(facts=wi.WorkloadFacts())
    assert {e["name"] for e in bare["enrichments"]} == {"workload"}
    assert "programmatic_credentials" not in bare["user"]
    empty = event(facts=wi.WorkloadFacts(credentials=(), app_permissions=(), owners=(),
                                         roster=wi.Roster(0, 0)))
    assert enrichment(empty, "credentials") == {"count": 0, "expired": 0}
    assert enrichment(empty, "owners") == {"count": 0}
    assert VALIDATOR.errors(empty) == []


def test_a_disabled_deleted_service_principal_says_so() -> None:
    ev = event(facts=wi.WorkloadFacts(deleted=wi.Deletion("hard")), accountEnabled=False)
    workload = enrichment(ev, "workload")
    assert ev["user"]["account"]["is_disabled"] is True
    assert workload["is_deleted"] is True and workload["deletion"] == "hard"
    assert workload["deleted_time"] == NOW


def test_a_record_without_id_is_a_mapping_error() -> None:
    with pytest.raises(wi.MappingError):
        event(id="  ")


def test_the_example_event_is_valid_against_the_5003_schema() -> None:
    assert VALIDATOR.errors(full_event()) == []


@pytest.mark.parametrize("row", wi.MAPPING, ids=lambda row: f"{row.source}->{row.path}")
def test_every_mapped_path_is_produced_for_a_fully_populated_service_principal(row: wi.MappingRow) -> None:
    values = values_at(full_event(), row.path)
    assert values, f"{row.path} is in MAPPING but to_event does not produce it"
    assert all(value not in (None, "", [], {}) for value in values)


def test_every_produced_field_is_in_the_mapping() -> None:
    assert leaf_paths(full_event()) - {row.path for row in wi.MAPPING} == set()


_text = st.one_of(st.none(), st.text(max_size=12), st.integers(), st.booleans())
_cred = st.fixed_dictionaries({"keyId": _text}, optional={
    "displayName": _text, "type": _text, "usage": _text,
    "startDateTime": st.one_of(_text, st.datetimes().map(lambda d: d.isoformat() + "Z")),
    "endDateTime": st.one_of(_text, st.datetimes().map(lambda d: d.isoformat() + "Z"))})
_sp = st.fixed_dictionaries({"id": st.uuids().map(str)}, optional={
    "appId": _text, "displayName": _text, "accountEnabled": _text,
    "servicePrincipalType": st.sampled_from(["Application", "ManagedIdentity", "Legacy", "x"]),
    "appOwnerOrganizationId": _text, "preferredSingleSignOnMode": _text,
    "appRoleAssignmentRequired": _text, "createdDateTime": _text,
    "passwordCredentials": st.lists(_cred, max_size=3), "keyCredentials": st.lists(_cred, max_size=3)})
_perm = st.builds(wi.AppPermission, st.uuids().map(str), st.one_of(st.none(), st.text(max_size=8)),
                  st.one_of(st.none(), st.sampled_from([*sorted(wi.HIGH_IMPACT_PERMISSIONS), "User.Read"])),
                  st.uuids().map(str))
_consent = st.builds(wi.Consent, st.uuids().map(str), st.one_of(st.none(), st.text(max_size=8)),
                     st.lists(st.sampled_from(["User.Read", "Mail.Read", "Files.ReadWrite.All"]),
                              max_size=3).map(tuple), st.booleans(), st.integers(0, 50))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sp=_sp, perms=st.one_of(st.none(), st.lists(_perm, max_size=3).map(tuple)),
       consents=st.one_of(st.none(), st.lists(_consent, max_size=3).map(tuple)),
       roster=st.one_of(st.none(), st.builds(wi.Roster, st.integers(0, 9), st.integers(0, 9))),
       deleted=st.one_of(st.none(), st.just(wi.Deletion("soft"))))
def test_any_service_principal_gives_a_valid_service_account_event(
        sp: dict[str, Any], perms: tuple[wi.AppPermission, ...] | None,
        consents: tuple[wi.Consent, ...] | None, roster: wi.Roster | None,
        deleted: wi.Deletion | None) -> None:
    facts = wi.WorkloadFacts(credentials=wi.credentials_of(sp, "service_principal"),
                             app_permissions=perms, consents=consents, roster=roster, deleted=deleted)
    ev = wi.to_event(sp, facts, collected_at_ms=NOW, tenant_id=wi.EXAMPLE_TENANT_ID,
                     product=wi.EXAMPLE_PRODUCT)
    assert VALIDATOR.errors(ev) == []
    assert ev["user"]["uid"] == sp["id"] and ev["user"]["type_id"] == 4
    assert len(ev["user"].get("programmatic_credentials", [])) == len(facts.credentials or ())
