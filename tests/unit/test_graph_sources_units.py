"""Pure parts of the Graph layer: queries, lookups, MFA vocabulary, tokens, `$batch` parsing."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest

from connector.graph.client import (
    PRIORITY_HEADERS,
    BatchRequest,
    GraphClient,
    decode_token_claims,
    parse_batch_response,
)
from connector.graph.odata import Availability, build_url
from connector.graph.permissions import FEATURES, Grants
from connector.graph.sources import STRONG_METHODS, Memberships, MfaTable, UserQuery, method_name
from connector.graph.throttle import Throttle
from connector.ocsf.user_inventory import GRAPH_USER_FIELDS


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


# --- the users query ------------------------------------------------------------------------------

def test_users_query_selects_the_mapped_fields_and_sign_in_activity() -> None:
    q = _query(UserQuery(fields=GRAPH_USER_FIELDS).url())
    assert set(q["$select"].split(",")) == set(GRAPH_USER_FIELDS) | {"signInActivity"}
    assert q["$top"] == "500"  # Graph's cap with signInActivity


def test_users_query_without_sign_in_asks_for_full_pages() -> None:
    q = _query(UserQuery(fields=("id",), sign_in=False, manager=False).url())
    assert q == {"$select": "id", "$top": "999"}


def test_incremental_members_only_filter_is_a_plain_query() -> None:
    query = UserQuery(fields=("id",), since=datetime(2026, 11, 20, 9, 0, tzinfo=UTC),
                      members_only=True)
    q = _query(query.url())
    assert q["$filter"] == "createdDateTime ge 2026-11-20T09:00:00Z and userType eq 'Member'"
    assert "$count" not in q and query.headers() == {}


def test_domain_filter_is_an_advanced_query_on_upn_and_mail() -> None:
    query = UserQuery(fields=("id",), domains=("contoso.com", "o'hara.org"))
    q = _query(query.url())
    assert q["$filter"] == (
        "(endswith(userPrincipalName,'@contoso.com') or endswith(mail,'@contoso.com') or "
        "endswith(userPrincipalName,'@o''hara.org') or endswith(mail,'@o''hara.org'))")
    assert q["$count"] == "true"
    assert query.headers() == {"ConsistencyLevel": "eventual"}


def test_a_refused_advanced_query_can_be_dropped() -> None:
    query = UserQuery(fields=("id",), domains=("contoso.com",)).without(advanced=False)
    assert "$filter" not in _query(query.url()) and query.headers() == {}


def test_urls_are_percent_encoded_but_keep_odata_punctuation() -> None:
    url = build_url("/users", {"$filter": "userType eq 'Member'", "$top": 5, "$skip": None})
    assert url == "/users?$filter=userType%20eq%20'Member'&$top=5"


# --- lookups --------------------------------------------------------------------------------------

def test_memberships_store_each_group_once_and_never_truncate() -> None:
    m = Memberships()
    indexes = [m.add_group(f"g{i}", f"Group {i}") for i in range(45)]
    for index in indexes:
        m.add_member("u1", index)
        m.add_member("u1", index)
    assert len(m.groups_of("u1")) == 45
    assert m.groups_of("u1")[44] == ("g44", "Group 44")
    assert m.add_group("g3", "renamed") == 3
    assert m.groups_of("nobody") == ()


def test_mfa_facts_are_interned() -> None:
    table = MfaTable()
    table.add("a", True, ["fido2SecurityKey", "mobilePhone"])
    table.add("b", True, ["mobilePhone", "fido2SecurityKey"])
    assert table.get("a") is table.get("b")
    assert table.get("c") is None


@pytest.mark.parametrize(("method", "name"), [
    ({"@odata.type": "#microsoft.graph.passwordAuthenticationMethod"}, None),
    ({"@odata.type": "#microsoft.graph.phoneAuthenticationMethod", "phoneType": "office"},
     "officePhone"),
    ({"@odata.type": "#microsoft.graph.fido2AuthenticationMethod",
      "aaGuid": "90a3ccdf-635c-4729-a248-9b709135078f"}, "passKeyDeviceBoundAuthenticator"),
    ({"@odata.type": "#microsoft.graph.fido2AuthenticationMethod", "model": "YubiKey 5"},
     "fido2SecurityKey"),
    ({"@odata.type": "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod"},
     "microsoftAuthenticatorPush"),
    ({"@odata.type": "#microsoft.graph.emailAuthenticationMethod"}, "email"),
    ({"@odata.type": "#microsoft.graph.temporaryAccessPassAuthenticationMethod"},
     "temporaryAccessPass"),
])
def test_per_user_methods_speak_the_registration_reports_vocabulary(
        method: dict[str, str], name: str | None) -> None:
    assert method_name(method) == name


def test_email_password_and_temporary_access_pass_are_not_mfa() -> None:
    assert not {"email", "temporaryAccessPass", "password"} & STRONG_METHODS


def test_availability_records_a_feature_once() -> None:
    availability = Availability()
    availability.degrade("mfa", "first reason")
    availability.degrade("mfa", "second reason")
    assert availability.reasons == {"mfa": "first reason"}
    assert not availability.available("mfa") and availability.available("groups")


# --- permissions and tokens -------------------------------------------------------------------------

def _jwt(payload: dict[str, object]) -> str:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
    return f"{part({'alg': 'RS256'})}.{part(payload)}.signature"


def test_token_claims_are_read_without_verification() -> None:
    claims = decode_token_claims(_jwt({"tid": "t", "roles": ["User.Read.All"]}))
    assert claims == {"tid": "t", "roles": ["User.Read.All"]}
    assert decode_token_claims("opaque-token") is None
    assert decode_token_claims("a.%%%.c") is None


def test_grants_know_which_permission_unlocks_what() -> None:
    grants = Grants.from_claims({"roles": ["Directory.Read.All"]})
    assert grants.allows("users") and grants.allows("groups") and grants.allows("roles")
    assert not grants.allows("last_sign_in")
    assert "AuditLog.Read.All" in (grants.missing("mfa_report") or "")


def test_unknown_grants_allow_everything_and_let_graph_decide() -> None:
    grants = Grants.from_claims({"tid": "t"})
    assert not grants.known
    assert all(grants.allows(feature.key) for feature in FEATURES)


def test_every_permission_the_code_relies_on_is_declared_in_the_manifest() -> None:
    from connector.diagnostics import manifest_permissions

    declared = manifest_permissions()
    names = {p["name"] for kind in ("required", "optional") for p in declared[kind]}
    names.add(declared["alternative"]["name"])
    for feature in FEATURES:
        assert feature.any_of[0] in names, feature.key


# --- $batch ---------------------------------------------------------------------------------------

def test_batch_responses_are_keyed_by_id_with_lower_case_headers() -> None:
    body = orjson.loads(orjson.dumps({"responses": [
        {"id": "2", "status": 429, "headers": {"Retry-After": "3"}, "body": {"error": {}}},
        {"id": "1", "status": 200, "body": {"value": []}},
        {"status": 200},
    ]}))
    parsed = parse_batch_response(body)
    assert set(parsed) == {"1", "2"}
    assert parsed["2"].headers == {"retry-after": "3"}
    assert parsed["1"].body == {"value": []}


def _client() -> GraphClient:
    # The credential factory is never called for a token by these tests.
    return GraphClient(graph_endpoint="https://graph.example.test", scope="https://x/.default",
                       credential_factory=lambda: None,  # type: ignore[arg-type,return-value]
                       throttle=Throttle.create(max_concurrency=2, deadline_seconds=10))


def test_next_links_become_relative_for_batch_items() -> None:
    client = _client()
    assert client.relative("https://graph.example.test/v1.0/groups/g/members?$skiptoken=x") == \
        "/groups/g/members?$skiptoken=x"
    assert client.relative("/users") == "/users"


def test_every_request_is_marked_as_background_traffic() -> None:
    client = _client()
    from kiota_abstractions.method import Method

    info = client._request(Method.GET, "/users?$select=id", {"ConsistencyLevel": "eventual"})
    info.path_parameters["baseurl"] = client.base_url
    assert info.url == "https://graph.example.test/v1.0/users?$select=id"
    assert info.request_headers is not None
    assert info.request_headers["x-ms-throttle-priority"] == PRIORITY_HEADERS[
        "x-ms-throttle-priority"]
    assert info.request_headers["consistencylevel"] == "eventual"


def test_batch_item_ids_must_be_unique() -> None:
    import asyncio

    with pytest.raises(ValueError):
        asyncio.run(_client().batch([BatchRequest("1", "/a"), BatchRequest("1", "/b")]))
