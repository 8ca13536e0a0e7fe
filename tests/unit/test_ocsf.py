"""Specification of connector.ocsf.user_inventory.to_event: one Graph user -> one OCSF 1.8.0 class 5003 event."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest

from connector.ocsf.user_inventory import (
    EVENT_UID_NAMESPACE,
    EXAMPLE_FACTS,
    GRAPH_USER_FIELDS,
    Group,
    MappingError,
    Mfa,
    Product,
    UserFacts,
    event_uid,
    example_user,
    to_event,
)
from connector.validation import EventValidator

UID = "3f1c2d4e-1111-4222-8333-444455556666"
TENANT = "00000000-0000-4000-8000-0000000000aa"
COLLECTED_AT_MS = 1_767_225_600_000
PRODUCT = Product(name="Entra ID user inventory", vendor_name="Microsoft", version="1.2.3")
VALIDATOR = EventValidator()


def event(user: dict[str, Any] | None = None, facts: UserFacts | None = None) -> dict[str, Any]:
    record = {"id": UID} if user is None else {"id": UID, **user}
    return to_event(
        record,
        UserFacts() if facts is None else facts,
        collected_at_ms=COLLECTED_AT_MS,
        tenant_id=TENANT,
        product=PRODUCT,
    )


def enrichment(evt: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((e for e in evt.get("enrichments", ()) if e["name"] == name), None)


# --- event header and metadata


def test_header_is_user_inventory_info_collect_informational() -> None:
    evt = event()
    assert {k: evt[k] for k in evt if k not in ("time", "metadata", "user")} == {
        "activity_id": 2,
        "activity_name": "Collect",
        "category_uid": 5,
        "category_name": "Discovery",
        "class_uid": 5003,
        "class_name": "User Inventory Info",
        "type_uid": 500302,
        "type_name": "User Inventory Info: Collect",
        "severity_id": 1,
        "severity": "Informational",
    }


def test_time_is_the_collection_time_not_the_creation_time() -> None:
    evt = event({"createdDateTime": "2020-01-01T00:00:00Z"})
    assert evt["time"] == COLLECTED_AT_MS


def test_metadata_carries_version_product_and_tenant() -> None:
    metadata = event()["metadata"]
    assert metadata["version"] == "1.8.0"
    assert metadata["product"] == {
        "name": "Entra ID user inventory",
        "vendor_name": "Microsoft",
        "version": "1.2.3",
    }
    assert metadata["tenant_uid"] == TENANT


def test_metadata_uid_is_uuid5_of_tenant_user_and_collection_time() -> None:
    expected = uuid.uuid5(EVENT_UID_NAMESPACE, f"{TENANT}/{UID}/{COLLECTED_AT_MS}")
    assert event()["metadata"]["uid"] == str(expected)


def test_event_uid_matches_the_standard_uuid5_for_many_inputs() -> None:
    for n in range(200):
        tenant, user_id = f"tenant-{n}.example", str(uuid.UUID(int=n * 7919, version=4))
        expected = uuid.uuid5(EVENT_UID_NAMESPACE, f"{tenant}/{user_id}/{n * 1000}")
        assert event_uid(tenant, user_id, n * 1000) == str(expected)


def test_redelivered_event_keeps_its_uid_and_a_new_collection_gets_a_new_one() -> None:
    first, again = event(), event()
    later = to_event(
        {"id": UID},
        UserFacts(),
        collected_at_ms=COLLECTED_AT_MS + 1,
        tenant_id=TENANT,
        product=PRODUCT,
    )
    assert first["metadata"]["uid"] == again["metadata"]["uid"] != later["metadata"]["uid"]


def test_blank_product_fields_are_omitted_but_a_nameless_product_is_a_programming_error() -> None:
    evt = to_event(
        {"id": UID},
        UserFacts(),
        collected_at_ms=1,
        tenant_id=TENANT,
        product=Product(name="x", vendor_name=" ", version=""),
    )
    assert evt["metadata"]["product"] == {"name": "x"}
    with pytest.raises(ValueError, match=r"Product\.name"):
        to_event(
            {"id": UID},
            UserFacts(),
            collected_at_ms=1,
            tenant_id=TENANT,
            product=Product(name="", vendor_name="v", version="1"),
        )


# --- records that cannot be mapped


@pytest.mark.parametrize(
    "record",
    [{}, {"id": None}, {"id": ""}, {"id": "   "}, {"id": ["x"]}, {"id": {"x": 1}}, {"id": True}],
)
def test_record_without_usable_id_raises_mapping_error(record: dict[str, Any]) -> None:
    with pytest.raises(MappingError, match="no usable id"):
        to_event(record, UserFacts(), collected_at_ms=1, tenant_id=TENANT, product=PRODUCT)


def test_record_that_is_not_an_object_raises_mapping_error() -> None:
    with pytest.raises(MappingError, match="not an object"):
        to_event(["id", UID], UserFacts(), collected_at_ms=1, tenant_id=TENANT, product=PRODUCT)  # type: ignore[arg-type]


def test_numeric_id_is_taken_as_text() -> None:
    evt = to_event({"id": 42}, UserFacts(), collected_at_ms=1, tenant_id=TENANT, product=PRODUCT)
    assert evt["user"]["uid"] == "42"


# --- user identity


def test_user_uid_name_and_display_name_come_from_id_and_display_name() -> None:
    user = event({"displayName": "Jane Doe"})["user"]
    assert (user["uid"], user["name"], user["display_name"]) == (UID, "Jane Doe", "Jane Doe")
    assert "full_name" not in user


def test_missing_display_name_leaves_name_out_rather_than_guessing() -> None:
    user = event({"userPrincipalName": "jane@contoso.com"})["user"]
    assert "name" not in user and "display_name" not in user


def test_on_premises_sid_is_the_alternate_uid() -> None:
    assert event({"onPremisesSecurityIdentifier": "S-1-5-21-1"})["user"]["uid_alt"] == "S-1-5-21-1"


# --- email address


def test_email_is_mail_when_valid() -> None:
    user = event({"mail": "jane@contoso.com", "userPrincipalName": "j@contoso.com"})["user"]
    assert user["email_addr"] == "jane@contoso.com"


def test_invalid_mail_falls_back_to_primary_smtp_proxy_address() -> None:
    user = event(
        {
            "mail": "not an address",
            "proxyAddresses": ["smtp:alias@contoso.com", "SMTP:primary@contoso.com"],
            "userPrincipalName": "upn@contoso.com",
        }
    )["user"]
    assert user["email_addr"] == "primary@contoso.com"


def test_missing_mail_falls_back_to_a_valid_upn() -> None:
    assert (
        event({"userPrincipalName": "jane@contoso.com"})["user"]["email_addr"] == "jane@contoso.com"
    )


def test_guest_ext_upn_is_never_an_email_address() -> None:
    user = event({"userPrincipalName": "jane_fabrikam.com#EXT#@contoso.onmicrosoft.com"})["user"]
    assert "email_addr" not in user


def test_guest_without_mail_uses_first_valid_other_mail() -> None:
    user = event(
        {
            "userPrincipalName": "jane_fabrikam.com#EXT#@contoso.onmicrosoft.com",
            "otherMails": ["nope", "jane_fabrikam.com#ext#@x.com", "jane@fabrikam.com"],
        }
    )["user"]
    assert user["email_addr"] == "jane@fabrikam.com"


def test_non_ascii_address_outside_email_t_is_not_emitted() -> None:
    assert "email_addr" not in event({"mail": "jöe@exämple.com"})["user"]


def test_email_is_stripped_of_surrounding_whitespace() -> None:
    assert event({"mail": " jane@contoso.com\n"})["user"]["email_addr"] == "jane@contoso.com"


# --- domain and account


def test_domain_is_the_upn_suffix() -> None:
    assert event({"userPrincipalName": "jane@contoso.com"})["user"]["domain"] == "contoso.com"


def test_guest_domain_is_the_text_after_the_last_at_sign() -> None:
    user = event({"userPrincipalName": "jane_fabrikam.com#EXT#@contoso.onmicrosoft.com"})["user"]
    assert user["domain"] == "contoso.onmicrosoft.com"


def test_upn_without_domain_gives_no_domain() -> None:
    assert "domain" not in event({"userPrincipalName": "jane@ "})["user"]
    assert "domain" not in event({"userPrincipalName": "jane"})["user"]


def test_account_is_the_azure_ad_account_named_by_upn() -> None:
    account = event({"userPrincipalName": "jane@contoso.com", "accountEnabled": False})["user"][
        "account"
    ]
    assert account == {
        "uid": UID,
        "name": "jane@contoso.com",
        "type_id": 6,
        "type": "Azure AD Account",
        "is_disabled": True,
    }


@pytest.mark.parametrize("enabled", [None, "true", 1, [True]])
def test_unknown_or_malformed_account_enabled_omits_is_disabled(enabled: object) -> None:
    evt = event({"accountEnabled": enabled})
    assert "is_disabled" not in evt["user"]["account"]
    assert "enrichments" not in evt


def test_on_premises_sync_flag_is_mapped_only_when_known() -> None:
    assert event({"onPremisesSyncEnabled": True})["user"]["account"]["is_on_premises_sync_enabled"]
    assert (
        "is_on_premises_sync_enabled"
        not in event({"onPremisesSyncEnabled": None})["user"]["account"]
    )


# --- roles, MFA, groups


def test_unknown_roles_leave_user_type_out() -> None:
    user = event(facts=UserFacts(roles=None))["user"]
    assert "type_id" not in user and "type" not in user


def test_known_no_roles_is_a_plain_user() -> None:
    evt = event(facts=UserFacts(roles=()))
    assert (evt["user"]["type_id"], evt["user"]["type"]) == (1, "User")
    assert enrichment(evt, "account")["data"] == {"is_admin": False}  # type: ignore[index]


def test_any_admin_role_makes_an_admin_and_lists_the_roles() -> None:
    evt = event(facts=UserFacts(roles=("Global Administrator", "Global Administrator", " ")))
    assert (evt["user"]["type_id"], evt["user"]["type"]) == (2, "Admin")
    data = enrichment(evt, "account")["data"]  # type: ignore[index]
    assert data["is_admin"] is True
    assert data["admin_roles"] == ["Global Administrator"]


def test_unknown_mfa_never_reports_has_mfa() -> None:
    evt = event(facts=UserFacts(mfa=None))
    assert "has_mfa" not in evt["user"]
    assert enrichment(evt, "account") is None


def test_mfa_not_registered_is_reported_false() -> None:
    evt = event(facts=UserFacts(mfa=Mfa(registered=False, methods=())))
    assert evt["user"]["has_mfa"] is False
    assert enrichment(evt, "account")["data"] == {"is_mfa": False}  # type: ignore[index]


def test_mfa_methods_are_listed_once_each() -> None:
    evt = event(facts=UserFacts(mfa=Mfa(registered=True, methods=("fido2", "fido2", "", "email"))))
    assert evt["user"]["has_mfa"] is True
    assert enrichment(evt, "account")["data"]["mfa_methods"] == ["fido2", "email"]  # type: ignore[index]


def test_groups_are_listed_with_uid_and_name() -> None:
    facts = UserFacts(groups=(Group("g1", "Finance"), Group("g2", None), Group("g1", "Finance")))
    assert event(facts=facts)["user"]["groups"] == [{"uid": "g1", "name": "Finance"}, {"uid": "g2"}]


@pytest.mark.parametrize("groups", [None, (), (Group(" ", None),)])
def test_unknown_or_empty_group_membership_emits_no_groups_key(
    groups: tuple[Group, ...] | None,
) -> None:
    assert "groups" not in event(facts=UserFacts(groups=groups))["user"]


# --- organisation and LDAP person


def test_org_has_company_and_office_location_and_needs_the_company() -> None:
    user = event({"companyName": "Contoso", "officeLocation": "Bldg 1"})["user"]
    assert user["org"] == {"name": "Contoso", "ou_name": "Bldg 1"}
    assert "org" not in event({"companyName": " ", "officeLocation": "Bldg 1"})["user"]


def test_ldap_person_carries_directory_attributes() -> None:
    person = event(
        {
            "givenName": "Jane",
            "surname": "Doe",
            "jobTitle": "Analyst",
            "department": "Finance",
            "employeeId": "E123",
            "officeLocation": "Bldg 1",
            "employeeOrgData": {"costCenter": "CC-42"},
            "onPremisesDistinguishedName": "CN=Jane Doe,DC=contoso,DC=com",
        }
    )["user"]["ldap_person"]
    assert person == {
        "given_name": "Jane",
        "surname": "Doe",
        "job_title": "Analyst",
        "department": "Finance",
        "employee_uid": "E123",
        "office_location": "Bldg 1",
        "cost_center": "CC-42",
        "ldap_dn": "CN=Jane Doe,DC=contoso,DC=com",
    }


def test_dates_become_epoch_milliseconds() -> None:
    person = event(
        {
            "createdDateTime": "2023-11-14T22:13:20Z",
            "employeeHireDate": "2021-03-01T00:00:00.5+01:00",
            "employeeLeaveDateTime": "2027-06-30T00:00:00.1234567Z",
        }
    )["user"]["ldap_person"]
    assert person["created_time"] == 1_700_000_000_000
    assert person["hire_time"] == 1_614_553_200_500
    assert person["leave_time"] == 1_814_313_600_123


def test_date_without_time_zone_is_taken_as_utc() -> None:
    person = event({"createdDateTime": "2023-11-14T22:13:20"})["user"]["ldap_person"]
    assert person["created_time"] == 1_700_000_000_000


@pytest.mark.parametrize(
    "value",
    [
        "yesterday",
        "2023-13-01T00:00:00Z",
        "",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        1700000000,
        None,
    ],
)
def test_invalid_or_sentinel_date_is_omitted(value: object) -> None:
    assert "ldap_person" not in event({"createdDateTime": value})["user"]


def test_last_login_is_the_last_successful_sign_in() -> None:
    evt = event(
        {
            "signInActivity": {
                "lastSignInDateTime": "2025-12-31T23:50:00Z",  # a newer, failed attempt
                "lastSuccessfulSignInDateTime": "2025-12-31T23:45:00Z",
            }
        }
    )
    assert evt["user"]["ldap_person"]["last_login_time"] == 1_767_224_700_000
    assert enrichment(evt, "account")["data"]["last_logon"] == 1_767_224_700_000  # type: ignore[index]


def test_last_login_falls_back_to_last_sign_in_when_success_is_not_reported() -> None:
    evt = event({"signInActivity": {"lastSignInDateTime": "2025-12-31T23:50:00Z"}})
    assert evt["user"]["ldap_person"]["last_login_time"] == 1_767_225_000_000


@pytest.mark.parametrize(
    "activity", [None, [], "2025-12-31T23:50:00Z", {"lastSignInDateTime": None}]
)
def test_missing_or_malformed_sign_in_activity_omits_last_login(activity: object) -> None:
    assert "ldap_person" not in event({"signInActivity": activity})["user"]


def test_other_mails_are_extra_valid_addresses_without_the_primary_one() -> None:
    person = event(
        {
            "mail": "jane@contoso.com",
            "otherMails": ["JANE@contoso.com", "jane@fabrikam.com", "bad", "jane@fabrikam.com", 7],
        }
    )["user"]["ldap_person"]
    assert person["email_addrs"] == ["jane@fabrikam.com"]


def test_user_type_and_employee_type_are_labels() -> None:
    person = event({"userType": "Member", "employeeType": "Contractor"})["user"]["ldap_person"]
    assert person["labels"] == ["Member", "Contractor"]


def test_manager_comes_from_the_collected_facts() -> None:
    facts = UserFacts(
        manager={"id": "m1", "displayName": "Sam Boss", "userPrincipalName": "s@x.com"}
    )
    assert event(facts=facts)["user"]["ldap_person"]["manager"] == {"uid": "m1", "name": "Sam Boss"}


@pytest.mark.parametrize("manager", [None, {}, {"id": " ", "displayName": None}, ["m1"]])
def test_unusable_manager_is_omitted(manager: Any) -> None:
    assert "ldap_person" not in event(facts=UserFacts(manager=manager))["user"]


# --- enrichments


def test_account_enrichment_gathers_status_flags() -> None:
    evt = event(
        {
            "accountEnabled": True,
            "isManagementRestricted": True,
            "userType": "Guest",
        },
        UserFacts(roles=("User Administrator",), mfa=Mfa(registered=True, methods=("fido2",))),
    )
    assert enrichment(evt, "account") == {
        "name": "account",
        "value": "status",
        "type": "account_status",
        "provider": "Microsoft Graph",
        "created_time": COLLECTED_AT_MS,
        "data": {
            "is_enabled": True,
            "is_mfa": True,
            "mfa_methods": ["fido2"],
            "is_restricted": True,
            "is_admin": True,
            "admin_roles": ["User Administrator"],
            "user_type": "Guest",
        },
    }


def test_user_with_nothing_known_has_no_enrichments() -> None:
    assert "enrichments" not in event()


def test_employment_enrichment_value_is_department_and_job_title() -> None:
    evt = event(
        {
            "department": "Finance",
            "jobTitle": "Analyst",
            "employeeId": "E1",
            "employeeType": "Employee",
        }
    )
    assert enrichment(evt, "employment") == {
        "name": "employment",
        "value": "Finance / Analyst",
        "type": "employment",
        "provider": "Microsoft Graph",
        "created_time": COLLECTED_AT_MS,
        "data": {
            "department": "Finance",
            "job_title": "Analyst",
            "employee_id": "E1",
            "employee_type": "Employee",
        },
    }


@pytest.mark.parametrize(
    ("user", "value"),
    [
        ({"department": "Finance"}, "Finance"),
        ({"jobTitle": "Analyst"}, "Analyst"),
        ({"employeeType": "Contractor", "employeeId": "E1"}, "Contractor"),
        ({"employeeId": "E1"}, "E1"),
    ],
)
def test_employment_value_falls_back_to_what_is_known(user: dict[str, Any], value: str) -> None:
    assert enrichment(event(user), "employment")["value"] == value  # type: ignore[index]


# --- hostile input


@pytest.mark.parametrize(
    "placeholder", ["", "   ", "\t\n", "Unknown", "unknown", "N/A", "n/a", "UNKNOWN"]
)
def test_placeholder_strings_are_omitted(placeholder: str) -> None:
    evt = event({"displayName": placeholder, "department": placeholder, "companyName": placeholder})
    assert set(evt["user"]) == {"uid", "account"}
    assert "enrichments" not in evt


def test_real_surnames_that_look_like_placeholders_are_kept() -> None:
    assert event({"surname": "Null"})["user"]["ldap_person"]["surname"] == "Null"


def test_strings_are_stripped() -> None:
    assert event({"displayName": "  Jane Doe \n"})["user"]["name"] == "Jane Doe"


def test_wrong_types_are_omitted_and_integers_taken_as_text() -> None:
    user = event(
        {
            "displayName": ["Jane"],
            "givenName": {"x": 1},
            "surname": 3.5,
            "employeeId": 12345,
            "employeeOrgData": ["CC-42"],
            "otherMails": "jane@fabrikam.com",
            "proxyAddresses": {"SMTP": "x@y.com"},
            "isManagementRestricted": "false",
        }
    )["user"]
    assert user["ldap_person"] == {"employee_uid": "12345"}
    assert "name" not in user and "email_addr" not in user


def test_huge_and_non_ascii_strings_are_kept_as_they_are() -> None:
    huge = "Ω" * 200_000
    user = event({"displayName": huge, "givenName": "Zoë 李"})["user"]
    assert user["name"] == huge
    assert user["ldap_person"]["given_name"] == "Zoë 李"


def test_unexpected_odata_type_is_ignored() -> None:
    evt = event({"@odata.type": "#microsoft.graph.group", "displayName": "Jane"})
    assert evt["user"]["name"] == "Jane"


def test_mapping_does_not_modify_its_input() -> None:
    user, before = example_user(), example_user()
    to_event(user, EXAMPLE_FACTS, collected_at_ms=1, tenant_id=TENANT, product=PRODUCT)
    assert user == before


def test_events_share_no_mutable_state() -> None:
    first, second = event(), event()
    first["metadata"]["product"]["name"] = "changed"
    assert second["metadata"]["product"]["name"] == PRODUCT.name


def test_fully_populated_user_gives_a_valid_event() -> None:
    evt = to_event(
        copy.deepcopy(example_user()),
        EXAMPLE_FACTS,
        collected_at_ms=COLLECTED_AT_MS,
        tenant_id=TENANT,
        product=PRODUCT,
    )
    assert VALIDATOR.errors(evt) == []


def test_graph_fields_to_select_cover_what_the_mapping_reads() -> None:
    assert set(example_user()) == set(GRAPH_USER_FIELDS)
