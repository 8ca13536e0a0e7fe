"""Graph listings turned into compact lookups the inventory joins users against.

Everything here costs requests per page, not per user, except the per-user paths (`$batch`,
20 users a request) that a small incremental run or an MFA fallback choose on purpose. Lookups
are kept small for 100k+ users: group names are stored once and users hold tuples of group
indexes; MFA facts are interned (a tenant has a few dozen distinct method combinations).

A source that the tenant's licence or the app's permissions refuse is recorded once in
`Availability` and its facts stay unknown (None), never false.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import orjson

from connector.graph.client import (
    EXPIRED_PAGE_TOKEN,
    BatchRequest,
    BatchResponse,
    GraphClient,
    GraphError,
    Page,
)
from connector.graph.odata import (
    DENIED,
    NON_PREMIUM,
    UNKNOWN_PROPERTY,
    Availability,
    batch_values,
    build_url,
    complete_listing,
    in_rounds,
    is_refusal,
    odata_datetime,
    odata_string,
    refusal_reason,
)

log = logging.getLogger(__name__)

SIGN_IN_FIELD = "signInActivity"
MANAGER_EXPAND = "manager($select=id,displayName,userPrincipalName)"
# `$expand` on a directory relationship returns at most 20 items, silently.
EXPAND_LIMIT = 20
USER_TYPE = "#microsoft.graph.user"
GROUP_TYPE = "#microsoft.graph.group"

# Default roles every user or guest holds implicitly; never assigned, never "admin".
NOT_ADMIN_ROLE_TEMPLATES = frozenset({
    "a0b1b346-4d3e-4e8b-98f8-753987be4970",  # User
    "10dae51f-b6af-4016-8d66-8c2a99b929b3",  # Guest User
    "2af84b1e-32c8-42b7-82bc-daa82404023b",  # Restricted Guest User
})

# Methods that make a user MFA-capable (registration report names). Email, password and a
# Temporary Access Pass are not MFA.
STRONG_METHODS = frozenset({
    "microsoftAuthenticatorPush", "microsoftAuthenticatorPasswordless", "fido2SecurityKey",
    "passKeyDeviceBound", "passKeyDeviceBoundAuthenticator", "passKeyDeviceBoundWindowsHello",
    "windowsHelloForBusiness", "softwareOneTimePasscode", "hardwareOneTimePasscode",
    "mobilePhone", "alternateMobilePhone", "officePhone", "macOsSecureEnclaveKey",
})
# Per-user method resources (`/users/{id}/authentication/methods`) in the report's vocabulary.
_METHOD_TYPES = {
    "microsoftAuthenticatorAuthenticationMethod": "microsoftAuthenticatorPush",
    "windowsHelloForBusinessAuthenticationMethod": "windowsHelloForBusiness",
    "softwareOathAuthenticationMethod": "softwareOneTimePasscode",
    "hardwareOathAuthenticationMethod": "hardwareOneTimePasscode",
    "emailAuthenticationMethod": "email",
    "temporaryAccessPassAuthenticationMethod": "temporaryAccessPass",
    "platformCredentialAuthenticationMethod": "macOsSecureEnclaveKey",
}
_PHONE_TYPES = {"mobile": "mobilePhone", "alternateMobile": "alternateMobilePhone",
                "office": "officePhone"}
_AUTHENTICATOR_AAGUIDS = frozenset({
    "90a3ccdf-635c-4729-a248-9b709135078f", "de1e552d-db1d-4423-a619-566b625cdc84",
})

@dataclass(frozen=True, slots=True)
class UserQuery:
    """The users listing: `$select`, filters pushed into Graph where it can evaluate them.

    `domains` need `endswith`, an advanced query (`ConsistencyLevel: eventual` + `$count=true`);
    the inventory re-applies every filter to each record anyway, so an advanced query Graph
    refuses can be dropped (`advanced=False`) without letting other users through.
    """

    fields: tuple[str, ...]
    page_size: int = 999
    since: datetime | None = None
    members_only: bool = False
    domains: tuple[str, ...] = ()
    sign_in: bool = True
    manager: bool = True
    advanced: bool = True

    def filter(self) -> str | None:
        clauses = []
        if self.since is not None:
            clauses.append(f"createdDateTime ge {odata_datetime(self.since)}")
        if self.members_only:
            clauses.append("userType eq 'Member'")
        if self.domains and self.advanced:
            alternatives = [
                f"endswith({prop},{odata_string('@' + domain)})"
                for domain in self.domains for prop in ("userPrincipalName", "mail")
            ]
            clauses.append("(" + " or ".join(alternatives) + ")")
        return " and ".join(clauses) or None

    @property
    def is_advanced(self) -> bool:
        return bool(self.domains) and self.advanced

    def url(self) -> str:
        fields = [f for f in self.fields if f != SIGN_IN_FIELD]
        if self.sign_in:
            fields.append(SIGN_IN_FIELD)
        # With signInActivity Graph caps a page at 500 (it answers 400 to a larger $top).
        top = min(self.page_size, 500) if self.sign_in else self.page_size
        return build_url("/users", {
            "$select": ",".join(fields),
            "$filter": self.filter(),
            "$expand": MANAGER_EXPAND if self.manager else None,
            "$count": "true" if self.is_advanced else None,
            "$top": top,
        })

    def headers(self) -> dict[str, str]:
        return {"ConsistencyLevel": "eventual"} if self.is_advanced else {}

    def without(self, **changes: Any) -> UserQuery:
        values = {name: getattr(self, name) for name in self.__dataclass_fields__}
        values.update(changes)
        return UserQuery(**values)


async def user_pages(client: GraphClient, query: UserQuery, availability: Availability,
                     start: str | None = None) -> AsyncIterator[tuple[UserQuery, Page]]:
    """Pages of users from `start` (a resume link) or the query's first page.

    A refusal of the first request drops what caused it and asks again: signInActivity
    (licence or AuditLog.Read.All), the manager expansion, the advanced query. Each page comes
    with the query actually in force, which the caller stores to restart the listing later.
    """
    while True:
        url = start or query.url()
        headers = query.headers()
        try:
            async for page in client.pages(url, headers):
                yield query, page
            return
        except GraphError as error:
            if not is_refusal(error) or error.code == EXPIRED_PAGE_TOKEN:
                raise
            fallback = _user_query_fallback(query, error, availability)
            if fallback is None:
                raise
            query, start = fallback, None


def _user_query_fallback(query: UserQuery, error: GraphError,
                         availability: Availability) -> UserQuery | None:
    unknown = UNKNOWN_PROPERTY.search(error.message) if error.status == 400 else None
    if unknown and unknown.group(1) in query.fields and unknown.group(1) != "id":
        # An older or national-cloud Graph without this property: map what it does have.
        log.warning("Graph does not know the user property %s; collecting without it",
                    unknown.group(1))
        return query.without(fields=tuple(f for f in query.fields if f != unknown.group(1)))
    if query.sign_in and (error.code in (NON_PREMIUM, DENIED) or SIGN_IN_FIELD in error.message):
        availability.degrade("last_sign_in", refusal_reason(error))
        return query.without(sign_in=False)
    if error.status != 400:
        return None
    if query.manager:
        availability.degrade("manager", refusal_reason(error))
        return query.without(manager=False)
    if query.is_advanced:
        log.info("Graph refused the domain filter (%s); filtering users locally instead",
                 error.code)
        return query.without(advanced=False)
    return None


def _is_type(item: Mapping[str, Any], odata_type: str) -> bool:
    found = item.get("@odata.type")
    return found is None or found == odata_type


# --- group memberships ------------------------------------------------------------------------

class Memberships:
    """user id -> the groups the user is a direct member of (never truncated)."""

    def __init__(self) -> None:
        self.groups: list[tuple[str, str | None]] = []
        self._index: dict[str, int] = {}
        self._by_user: dict[str, list[int]] = {}

    def add_group(self, uid: str, name: str | None) -> int:
        found = self._index.get(uid)
        if found is not None:
            return found
        index = len(self.groups)
        self.groups.append((uid, name))
        self._index[uid] = index
        return index

    def add_member(self, user_id: str, group: int) -> None:
        held = self._by_user.get(user_id)
        if held is None:
            self._by_user[user_id] = [group]
        elif group not in held:
            held.append(group)

    def indexes_of(self, user_id: str) -> Sequence[int]:
        return self._by_user.get(user_id, ())

    def groups_of(self, user_id: str) -> tuple[tuple[str, str | None], ...]:
        return tuple(self.groups[i] for i in self.indexes_of(user_id))

    def __len__(self) -> int:
        return len(self._by_user)


async def _members(client: GraphClient, group_ids: Sequence[str],
                   on_members: Callable[[str, list[str]], None]) -> None:
    """Every direct user member of each group, through `$batch`, following each nextLink."""
    def consume(gid: str, response: BatchResponse) -> str | None:
        values, link = batch_values(response)
        on_members(gid, [m["id"] for m in values
                         if isinstance(m, Mapping) and "id" in m and _is_type(m, USER_TYPE)])
        return link

    await in_rounds(client, [(gid, build_url(f"/groups/{gid}/members",
                                              {"$select": "id", "$top": 999}))
                              for gid in group_ids], consume)


async def group_memberships(client: GraphClient) -> Memberships:
    """All groups with their members, from one listing plus `$batch` for the large groups.

    The listing expands members: a group showing fewer than 20 is complete; one showing 20 may
    be truncated and is read in full. So a tenant of small groups costs one request per 999
    groups.
    """
    memberships = Memberships()
    incomplete: list[str] = []

    def consume(page: Page) -> None:
        for group in page.items:
            gid = group.get("id")
            if not isinstance(gid, str):
                continue
            name = group.get("displayName")
            index = memberships.add_group(gid, name if isinstance(name, str) else None)
            members = group.get("members")
            if not isinstance(members, list) or len(members) >= EXPAND_LIMIT:
                incomplete.append(gid)
                continue
            for member in members:
                if isinstance(member, Mapping) and isinstance(member.get("id"), str) \
                        and _is_type(member, USER_TYPE):
                    memberships.add_member(member["id"], index)

    def reset() -> None:
        nonlocal memberships
        memberships = Memberships()
        incomplete.clear()

    expanded = build_url("/groups", {"$select": "id,displayName",
                                     "$expand": "members($select=id)", "$top": 999})
    try:
        await complete_listing(client, expanded, consume, reset)
    except GraphError as error:
        if error.status != 400:
            raise
        # A Graph that refuses the expansion: every group's members are read through $batch.
        reset()
        await complete_listing(client, build_url("/groups", {"$select": "id,displayName",
                                                               "$top": 999}), consume, reset)

    def add(gid: str, user_ids: list[str]) -> None:
        index = memberships.add_group(gid, None)
        for user_id in user_ids:
            memberships.add_member(user_id, index)

    await _members(client, incomplete, add)
    return memberships


async def memberships_of(client: GraphClient, user_ids: Sequence[str]) -> Memberships:
    """The groups of a few users, asked per user through `$batch` (small incremental runs)."""
    memberships = Memberships()

    def consume(uid: str, response: BatchResponse) -> str | None:
        values, link = batch_values(response)
        for group in values:
            if isinstance(group, Mapping) and isinstance(group.get("id"), str) \
                    and _is_type(group, GROUP_TYPE):
                name = group.get("displayName")
                index = memberships.add_group(group["id"], name if isinstance(name, str) else None)
                memberships.add_member(uid, index)
        return link

    await in_rounds(client, [(uid, build_url(f"/users/{uid}/memberOf/microsoft.graph.group",
                                              {"$select": "id,displayName", "$top": 999}))
                              for uid in user_ids], consume)
    return memberships


# --- admin roles ------------------------------------------------------------------------------

async def admin_roles(client: GraphClient) -> dict[str, tuple[str, ...]]:
    """user id -> names of the directory roles they hold, directly or through a group.

    Role definitions and assignments are small listings (a few pages even in large tenants), so
    every run reads them whole. Members of a role-assignable group hold its roles; such groups
    cannot contain groups, so their direct members are the holders.
    """
    names: dict[str, str] = {}

    def definitions(page: Page) -> None:
        for item in page.items:
            name = item.get("displayName")
            if not isinstance(name, str):
                continue
            for key in ("id", "templateId"):
                value = item.get(key)
                if isinstance(value, str) and value not in NOT_ADMIN_ROLE_TEMPLATES:
                    names[value] = name

    await complete_listing(
        client, build_url("/roleManagement/directory/roleDefinitions",
                          {"$select": "id,displayName,templateId"}),
        definitions, names.clear)

    held: dict[str, set[str]] = {}
    via_group: dict[str, set[str]] = {}

    def assignments(page: Page) -> None:
        for item in page.items:
            role = names.get(str(item.get("roleDefinitionId")))
            if role is None:
                continue
            principal = item.get("principal")
            principal_id = item.get("principalId")
            kind = principal.get("@odata.type") if isinstance(principal, Mapping) else None
            if not isinstance(principal_id, str):
                continue
            if kind == GROUP_TYPE:
                via_group.setdefault(principal_id, set()).add(role)
            elif kind in (USER_TYPE, None):
                held.setdefault(principal_id, set()).add(role)

    def reset() -> None:
        held.clear()
        via_group.clear()

    await complete_listing(
        client, build_url("/roleManagement/directory/roleAssignments",
                          {"$select": "id,principalId,roleDefinitionId",
                           "$expand": "principal($select=id)"}),
        assignments, reset)

    def add(gid: str, user_ids: list[str]) -> None:
        for user_id in user_ids:
            held.setdefault(user_id, set()).update(via_group[gid])

    try:
        await _members(client, list(via_group), add)
    except GraphError as error:
        if error.status != 403:
            raise
        # Without the members, anyone might hold a role through a group: all roles are unknown.
        raise GraphError(error.status, error.code,
                         "roles are also held through role-assignable groups, whose members need "
                         "GroupMember.Read.All, Group.Read.All or Directory.Read.All",
                         error.request_id) from None
    return {user_id: tuple(sorted(roles)) for user_id, roles in held.items()}


# --- MFA --------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class MfaFacts:
    registered: bool
    methods: tuple[str, ...]


@dataclass(slots=True)
class MfaTable:
    """Interned MFA facts by user id."""

    by_user: dict[str, MfaFacts] = field(default_factory=dict)
    _interned: dict[tuple[bool, tuple[str, ...]], MfaFacts] = field(default_factory=dict)

    def add(self, user_id: str, registered: bool, methods: Iterable[str]) -> None:
        key = (registered, tuple(sorted(set(methods))))
        facts = self._interned.get(key)
        if facts is None:
            facts = self._interned[key] = MfaFacts(*key)
        self.by_user[user_id] = facts

    def get(self, user_id: str) -> MfaFacts | None:
        return self.by_user.get(user_id)

    def __len__(self) -> int:
        return len(self.by_user)


REGISTRATION_REPORT = "/reports/authenticationMethods/userRegistrationDetails"


def _add_registration(table: MfaTable, item: Mapping[str, Any]) -> None:
    uid = item.get("id")
    registered = item.get("isMfaRegistered")
    methods = item.get("methodsRegistered")
    if not isinstance(uid, str):
        return
    names = [m for m in methods if isinstance(m, str)] if isinstance(methods, list) else []
    if not isinstance(registered, bool):
        registered = any(m in STRONG_METHODS for m in names)
    table.add(uid, registered, names)


async def mfa_registration(client: GraphClient, table: MfaTable | None = None) -> MfaTable:
    """The tenant's registration report in bulk (P1/P2; it leaves out disabled users)."""
    out = table if table is not None else MfaTable()

    def consume(page: Page) -> None:
        for item in page.items:
            _add_registration(out, item)

    await complete_listing(
        client, build_url(REGISTRATION_REPORT,
                          {"$select": "id,isMfaRegistered,methodsRegistered", "$top": 999}),
        consume, out.by_user.clear)
    return out


def method_name(method: Mapping[str, Any]) -> str | None:
    """A `/authentication/methods` item in the registration report's vocabulary."""
    odata_type = str(method.get("@odata.type", "")).removeprefix("#microsoft.graph.")
    if odata_type == "passwordAuthenticationMethod":
        return None
    if odata_type == "phoneAuthenticationMethod":
        return _PHONE_TYPES.get(str(method.get("phoneType")), "mobilePhone")
    if odata_type == "fido2AuthenticationMethod":
        if str(method.get("aaGuid", "")).lower() in _AUTHENTICATOR_AAGUIDS:
            return "passKeyDeviceBoundAuthenticator"
        return "passKeyDeviceBound" if "passkey" in str(method.get("model", "")).lower() \
            else "fido2SecurityKey"
    return _METHOD_TYPES.get(odata_type, odata_type or None)


async def _per_user(client: GraphClient, user_ids: Sequence[str],
                    url_of: Callable[[str], str]) -> list[tuple[str, BatchResponse]]:
    responses = await client.batch(
        [BatchRequest(str(i), url_of(uid)) for i, uid in enumerate(user_ids)])
    return list(zip(user_ids, responses, strict=True))


def _refusal(response: BatchResponse) -> GraphError | None:
    if response.status in (401, 403):
        return response.error()
    return None


async def mfa_methods(client: GraphClient, user_ids: Sequence[str], table: MfaTable) -> None:
    """MFA from each user's registered methods (UserAuthenticationMethod.Read.All), by `$batch`.

    Users Graph no longer finds are left out; a refusal raises for the caller to degrade on.
    """
    for uid, response in await _per_user(
            client, user_ids, lambda uid: f"/users/{uid}/authentication/methods"):
        error = _refusal(response)
        if error is not None:
            raise error
        if response.status != 200 or not isinstance(response.body, Mapping):
            continue
        names = [name for item in response.body.get("value") or []
                 if isinstance(item, Mapping) and (name := method_name(item))]
        table.add(uid, any(n in STRONG_METHODS for n in names), names)


async def mfa_registration_of(client: GraphClient, user_ids: Sequence[str],
                              table: MfaTable) -> None:
    """Registration report entries for a few users (reporting budget: 1 per user)."""
    for _uid, response in await _per_user(
            client, user_ids, lambda uid: f"{REGISTRATION_REPORT}/{uid}"):
        error = _refusal(response)
        if error is not None:
            raise error
        if response.status == 200 and isinstance(response.body, Mapping):
            _add_registration(table, response.body)


# --- user risk (Identity Protection) -------------------------------------------------------------

RISKY_USERS = "/identityProtection/riskyUsers"
# Graph pages riskyUsers 20 at a time by default and accepts at most 500.
RISKY_USERS_PAGE = 500
_RISK_SELECT = "id,riskLevel,riskState,riskLastUpdatedDateTime"


@dataclass(frozen=True, slots=True)
class RiskFacts:
    """A riskyUser as Graph reports it: `level` and `state` are Graph's enum strings."""

    level: str | None
    state: str | None
    updated: str | None = None  # riskLastUpdatedDateTime, ISO 8601


#: What a user absent from riskyUsers is: Identity Protection never flagged them.
NO_RISK: Final = RiskFacts("none", None)


@dataclass(slots=True)
class RiskTable:
    """user id -> RiskFacts for the users Identity Protection lists; everyone else is NO_RISK.

    Only risky users are stored (a few percent of a tenant), each as one small frozen object.
    """

    by_user: dict[str, RiskFacts] = field(default_factory=dict)

    def add(self, item: Mapping[str, Any]) -> None:
        uid = item.get("id")
        if not isinstance(uid, str) or item.get("isDeleted") is True:
            return
        level, state, updated = (item.get(k) for k in ("riskLevel", "riskState",
                                                       "riskLastUpdatedDateTime"))
        self.by_user[uid] = RiskFacts(level if isinstance(level, str) else None,
                                      state if isinstance(state, str) else None,
                                      updated if isinstance(updated, str) else None)

    def get(self, user_id: str) -> RiskFacts:
        return self.by_user.get(user_id, NO_RISK)

    def changes_since(self, previous: RiskTable | None) -> RiskTable:
        """Users whose risk differs from `previous` (every listed user when it is unknown);
        a user `previous` listed and this table does not is back to NO_RISK."""
        if previous is None:
            return RiskTable(dict(self.by_user))
        changed = {uid: facts for uid, facts in self.by_user.items()
                   if previous.by_user.get(uid) != facts}
        changed.update({uid: NO_RISK for uid, facts in previous.by_user.items()
                        if uid not in self.by_user and facts != NO_RISK})
        return RiskTable(changed)

    def to_json(self) -> str:
        """Compact, for the state store: {id: [level, state, updated]}."""
        return orjson.dumps({uid: [f.level, f.state, f.updated]
                             for uid, f in self.by_user.items()}).decode()

    @classmethod
    def from_json(cls, text: str | None) -> RiskTable | None:
        """`to_json`'s text back; None when absent or unreadable (then nothing is assumed)."""
        try:
            raw = orjson.loads(text) if text else None
        except orjson.JSONDecodeError:
            return None
        if not isinstance(raw, dict):
            return None
        table = cls()
        for uid, facts in raw.items():
            if isinstance(facts, list) and len(facts) == 3:
                table.by_user[str(uid)] = RiskFacts(*(v if isinstance(v, str) else None
                                                      for v in facts))
        return table

    def __len__(self) -> int:
        return len(self.by_user)


async def risky_users(client: GraphClient) -> RiskTable:
    """Every user Identity Protection lists (IdentityRiskyUser.Read.All, Entra ID P2)."""
    table = RiskTable()

    def consume(page: Page) -> None:
        for item in page.items:
            if isinstance(item, Mapping):
                table.add(item)

    await complete_listing(
        client, build_url(RISKY_USERS, {"$select": _RISK_SELECT, "$top": RISKY_USERS_PAGE}),
        consume, table.by_user.clear)
    return table
