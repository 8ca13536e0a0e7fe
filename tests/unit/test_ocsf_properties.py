"""Properties of to_event over arbitrary Graph-like input: valid or MappingError, never junk."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.ocsf.user_inventory import (
    GRAPH_USER_FIELDS,
    Group,
    MappingError,
    Mfa,
    Product,
    UserFacts,
    to_event,
)
from connector.validation import EventValidator

VALIDATOR = EventValidator()
PRODUCT = Product(name="Entra ID user inventory", vendor_name="Microsoft", version="0.1.0")
PLACEHOLDERS = {"unknown", "n/a"}

texts = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", " ", "\t\n", "Unknown", "N/A", "n/a", "null", "#EXT#", "@", "a@b"]),
    st.text(alphabet="ab.@#EXT_-+", max_size=30),
    st.just("Ω" * 20_000),
)
dates = st.one_of(
    st.datetimes().map(lambda d: d.isoformat()),
    st.datetimes().map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%S") + ".1234567Z"),
    st.sampled_from(
        ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2024-02-30T00:00:00Z", "2024-01-01", "x"]
    ),
    texts,
)
emails = st.one_of(
    st.emails().map(str),
    st.sampled_from(
        [
            "jane@contoso.com",
            "jane_f.com#EXT#@contoso.onmicrosoft.com",
            "a@b.c\n",
            "jöe@exämple.com",
        ]
    ),
    texts,
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64),
    st.floats(allow_nan=True),
    texts,
)
anything = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def field(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A Graph property: usually plausible, sometimes null, sometimes of the wrong type."""
    return st.one_of(good, good, st.none(), anything)


FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "id": field(st.uuids().map(str) | texts | st.integers()),
    "mail": field(emails),
    "userPrincipalName": field(emails),
    "otherMails": field(st.lists(field(emails), max_size=4)),
    "proxyAddresses": field(st.lists(field(emails.map(lambda e: f"SMTP:{e}")), max_size=3)),
    "accountEnabled": field(st.booleans()),
    "onPremisesSyncEnabled": field(st.booleans()),
    "isManagementRestricted": field(st.booleans()),
    "createdDateTime": field(dates),
    "employeeHireDate": field(dates),
    "employeeLeaveDateTime": field(dates),
    "employeeOrgData": field(st.fixed_dictionaries({}, optional={"costCenter": field(texts)})),
    "signInActivity": field(
        st.fixed_dictionaries(
            {},
            optional={
                "lastSignInDateTime": field(dates),
                "lastSuccessfulSignInDateTime": field(dates),
            },
        )
    ),
    "@odata.type": field(st.sampled_from(["#microsoft.graph.user", "#microsoft.graph.group"])),
}
for name in GRAPH_USER_FIELDS:
    FIELDS.setdefault(name, field(texts))

graph_users = st.fixed_dictionaries({}, optional=FIELDS)
groups = st.lists(st.builds(Group, uid=texts, name=st.none() | texts), max_size=4).map(tuple)
facts = st.builds(
    UserFacts,
    groups=st.none() | groups,
    roles=st.none() | st.lists(texts, max_size=3).map(tuple),
    mfa=st.none()
    | st.builds(Mfa, registered=st.booleans(), methods=st.lists(texts, max_size=3).map(tuple)),
    manager=st.none()
    | st.fixed_dictionaries({}, optional={"id": field(texts), "displayName": field(texts)})
    | anything,
)


def junk(value: Any, path: str = "$") -> list[str]:
    """Paths of None, empty or placeholder values anywhere in the event."""
    if value is None:
        return [path]
    if isinstance(value, str):
        return [path] if not value.strip() or value.strip().lower() in PLACEHOLDERS else []
    if isinstance(value, dict):
        found = [path] if not value else []
        for key, item in value.items():
            found += junk(item, f"{path}.{key}")
        return found
    if isinstance(value, list):
        found = [path] if not value else []
        for index, item in enumerate(value):
            found += junk(item, f"{path}[{index}]")
        return found
    return []


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(user=graph_users, user_facts=facts, collected_at_ms=st.integers(0, 2**53))
def test_any_graph_user_maps_to_a_valid_event_or_a_mapping_error(
    user: dict[str, Any], user_facts: UserFacts, collected_at_ms: int
) -> None:
    try:
        event = to_event(
            user, user_facts, collected_at_ms=collected_at_ms, tenant_id="t", product=PRODUCT
        )
    except MappingError:
        ident = user.get("id")
        usable = isinstance(ident, str) and ident.strip().lower() not in PLACEHOLDERS | {""}
        assert not usable and type(ident) is not int
        return
    assert VALIDATOR.errors(event) == []
    assert junk(event) == []


@settings(max_examples=150, deadline=None)
@given(user=graph_users, user_facts=facts)
def test_unknown_mfa_never_reports_has_mfa(user: dict[str, Any], user_facts: UserFacts) -> None:
    user = {**user, "id": "u1"}
    event = to_event(
        user,
        UserFacts(groups=user_facts.groups, roles=user_facts.roles, mfa=None),
        collected_at_ms=1,
        tenant_id="t",
        product=PRODUCT,
    )
    assert "has_mfa" not in event["user"]
    assert all("is_mfa" not in e["data"] for e in event.get("enrichments", ()))


@settings(max_examples=150, deadline=None)
@given(user=graph_users, user_facts=facts)
def test_unknown_roles_never_make_a_plain_user(user: dict[str, Any], user_facts: UserFacts) -> None:
    user = {**user, "id": "u1"}
    event = to_event(
        user,
        UserFacts(groups=user_facts.groups, roles=None, mfa=user_facts.mfa),
        collected_at_ms=1,
        tenant_id="t",
        product=PRODUCT,
    )
    assert "type_id" not in event["user"] and "type" not in event["user"]
    assert all("is_admin" not in e["data"] for e in event.get("enrichments", ()))


@settings(max_examples=150, deadline=None)
@given(user=graph_users, user_facts=facts)
def test_emitted_addresses_are_never_guest_upns(
    user: dict[str, Any], user_facts: UserFacts
) -> None:
    event = to_event(
        {**user, "id": "u1"}, user_facts, collected_at_ms=1, tenant_id="t", product=PRODUCT
    )
    person = event["user"].get("ldap_person", {})
    addresses = [event["user"].get("email_addr", ""), *person.get("email_addrs", [])]
    assert all("#EXT#" not in a.upper() for a in addresses)
