"""Pure mapping of a Microsoft Graph user (plus collected facts) to an OCSF 1.8.0 class 5003 event.

This is the only module that knows OCSF. It does no I/O: the inventory hands it the raw Graph
user dict and what the other sources learnt about that user, and gets back a plain dict ready
for orjson. Unknown is never reported as false and nothing empty is ever emitted, because a
consumer cannot tell a placeholder from a fact.

`MAPPING` is the single description of the mapping; `docs/mapping.md` is rendered from it
(`python -m connector.ocsf --mapping-doc`) and tests prove both that the document is current
and that every path it lists is produced.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from connector.ocsf.common import (
    ACCOUNT_TYPE_CAPTIONS,
    CATEGORY_DISCOVERY,
    EMAIL_PATTERN,
    EVENT_UID_NAMESPACE,
    OCSF_VERSION,
    PLACEHOLDERS,
    SEVERITY_CAPTIONS,
    MappingError,
    MappingRow,
    Origin,
    Product,
    cell,
    constant_rows,
    event_header,
    event_uid,
    json_block,
)
from connector.ocsf.common import email as _email
from connector.ocsf.common import epoch_ms as _epoch_ms
from connector.ocsf.common import product_json as _product
from connector.ocsf.common import text as _text

__all__ = [
    "ACCOUNT_TYPE_CAPTIONS",
    "ACTIVITY_CAPTIONS",
    "CATEGORY_CAPTIONS",
    "CLASS_CAPTIONS",
    "CLASS_UID",
    "EMAIL_PATTERN",
    "EVENT_CAPTIONS",
    "EVENT_UID_NAMESPACE",
    "EXAMPLE_COLLECTED_AT_MS",
    "EXAMPLE_FACTS",
    "EXAMPLE_PRODUCT",
    "EXAMPLE_TENANT_ID",
    "GRAPH_USER_FIELDS",
    "MAPPING",
    "OCSF_VERSION",
    "RISK_LEVEL_CAPTIONS",
    "SEVERITY_CAPTIONS",
    "TYPE_CAPTIONS",
    "USER_TYPE_CAPTIONS",
    "Group",
    "MappingError",
    "MappingRow",
    "Mfa",
    "Product",
    "Risk",
    "UserFacts",
    "cell",
    "constant_rows",
    "event_uid",
    "example_user",
    "json_block",
    "render_mapping_doc",
    "to_event",
]


# Captions of the ids this module emits, as OCSF 1.8.0 defines them (checked against the
# compiled class by tests/unit/test_validation_schema.py).
CLASS_CAPTIONS: Final[Mapping[int, str]] = {5003: "User Inventory Info"}
CATEGORY_CAPTIONS: Final[Mapping[int, str]] = CATEGORY_DISCOVERY
ACTIVITY_CAPTIONS: Final[Mapping[int, str]] = {0: "Unknown", 1: "Log", 2: "Collect", 99: "Other"}
TYPE_CAPTIONS: Final[Mapping[int, str]] = {
    500300: "User Inventory Info: Unknown",
    500301: "User Inventory Info: Log",
    500302: "User Inventory Info: Collect",
    500399: "User Inventory Info: Other",
}
USER_TYPE_CAPTIONS: Final[Mapping[int, str]] = {
    0: "Unknown",
    1: "User",
    2: "Admin",
    3: "System",
    4: "Service",
    99: "Other",
}

RISK_LEVEL_CAPTIONS: Final[Mapping[int, str]] = {
    0: "Info",
    1: "Low",
    2: "Medium",
    3: "High",
    4: "Critical",
    99: "Other",
}
# Identity Protection's riskLevel -> user.risk_level_id. "none" (no risk detected, or risk
# remediated / dismissed / confirmed safe) is OCSF's lowest level, Info. "hidden" (Identity
# Protection withholds it) and "unknownFutureValue" say nothing about the risk: omitted.
#: (id key, caption key, captions) a validator checks on the event itself.
EVENT_CAPTIONS: Final = (
    ("class_uid", "class_name", CLASS_CAPTIONS),
    ("category_uid", "category_name", CATEGORY_CAPTIONS),
    ("activity_id", "activity_name", ACTIVITY_CAPTIONS),
    ("type_uid", "type_name", TYPE_CAPTIONS),
    ("severity_id", "severity", SEVERITY_CAPTIONS),
)
_RISK_LEVEL_IDS: Final[Mapping[str, int]] = {"none": 0, "low": 1, "medium": 2, "high": 3}
_RISK_LEVELS: Final[Mapping[str, tuple[int, str]]] = {
    level: (level_id, RISK_LEVEL_CAPTIONS[level_id]) for level, level_id in _RISK_LEVEL_IDS.items()
}
_RISK_STATES: Final = frozenset(
    {"none", "confirmedSafe", "remediated", "dismissed", "atRisk", "confirmedCompromised"}
)

CLASS_UID: Final = 5003
_CLASS_UID: Final = CLASS_UID
_CATEGORY_UID: Final = 5
_ACTIVITY_ID: Final = 2  # Collect
_SEVERITY_ID: Final = 1  # Informational
_USER_TYPE_USER: Final = 1
_USER_TYPE_ADMIN: Final = 2
_ACCOUNT_TYPE_ID: Final = 6
_ACCOUNT_TYPE: Final = ACCOUNT_TYPE_CAPTIONS[_ACCOUNT_TYPE_ID]
_ENRICHMENT_PROVIDER: Final = "Microsoft Graph"



_HEADER: Final[Mapping[str, Any]] = event_header(
    class_uid=_CLASS_UID, class_name=CLASS_CAPTIONS[_CLASS_UID],
    category_uid=_CATEGORY_UID, category_name=CATEGORY_CAPTIONS[_CATEGORY_UID],
    activity_id=_ACTIVITY_ID, activity_name=ACTIVITY_CAPTIONS[_ACTIVITY_ID],
    type_name=TYPE_CAPTIONS[_CLASS_UID * 100 + _ACTIVITY_ID], severity_id=_SEVERITY_ID)




@dataclass(frozen=True, slots=True)
class Group:
    uid: str
    name: str | None


@dataclass(frozen=True, slots=True)
class Mfa:
    registered: bool
    methods: tuple[str, ...]  # Graph method names as reported


@dataclass(frozen=True, slots=True)
class Risk:
    """Identity Protection's view of a user, in Graph's vocabulary.

    A user Identity Protection does not list is `Risk("none", None)`: nothing was detected.
    """

    level: str | None  # riskLevel: low, medium, high, hidden, none, unknownFutureValue
    state: str | None = None  # riskState: atRisk, confirmedCompromised, remediated, ...
    updated: str | None = None  # riskLastUpdatedDateTime (ISO 8601)


@dataclass(frozen=True, slots=True)
class Deletion:
    """A user no longer in the directory: `soft` (in deleted items, restorable for 30 days) or
    `hard` (purged). `time` is Graph's `deletedDateTime` when it gives one (soft deletes), else
    when the connector learnt of the deletion (ISO 8601)."""

    kind: Literal["soft", "hard"]
    time: str | None = None


@dataclass(frozen=True, slots=True)
class UserFacts:
    groups: tuple[Group, ...] | None = None  # None = unknown (not collected)
    roles: tuple[str, ...] | None = None  # admin role display names; None = unknown
    mfa: Mfa | None = None  # None = unknown
    manager: Mapping[str, Any] | None = None  # {"id", "displayName", "userPrincipalName"}
    risk: Risk | None = None  # None = unknown (riskyUsers not read)
    deleted: Deletion | None = None  # None = present in the directory
    # SSO applications assigned (service principal uid, name), directly or through a group;
    # None = not collected (workload_identities.user_sso_apps off)
    sso_apps: tuple[Group, ...] | None = None


#: At most this many SSO applications are listed per user (`count` says how many there are).
SSO_APPS_LIMIT: Final = 50




# --------------------------------------------------------------------------- value helpers




def _unique_texts(values: Iterable[Any]) -> list[str]:
    out: list[str] = []
    for value in values:
        text = _text(value)
        if text is not None and text not in out:
            out.append(text)
    return out


def _primary_email(get: Callable[[str], Any], upn: str | None) -> str | None:
    address = _email(get("mail"))
    if address is not None:
        return address
    proxies = get("proxyAddresses")
    if isinstance(proxies, list | tuple):
        for proxy in proxies:
            # "SMTP:" in capitals marks the primary address; "smtp:" ones are aliases.
            if isinstance(proxy, str) and proxy.startswith("SMTP:"):
                address = _email(proxy[5:])
                if address is not None:
                    return address
    address = _email(upn)
    if address is not None:
        return address
    others = get("otherMails")
    if isinstance(others, list | tuple):
        for other in others:
            address = _email(other)
            if address is not None:
                return address
    return None


def _other_emails(others: Any, primary: str | None) -> list[str]:
    out: list[str] = []
    if not others or not isinstance(others, list | tuple):
        return out
    seen = {primary.lower()} if primary else set()
    for other in others:
        address = _email(other)
        if address is not None and address.lower() not in seen:
            seen.add(address.lower())
            out.append(address)
    return out


def _last_login_ms(activity: Any) -> int | None:
    """Last *successful* sign-in; a newer failed attempt must not make a dormant account look used."""
    if activity.__class__ is not dict:
        return None
    successful = _epoch_ms(activity.get("lastSuccessfulSignInDateTime"))
    if successful is not None:
        return successful
    return _epoch_ms(activity.get("lastSignInDateTime"))




def _groups(groups: Iterable[Group]) -> list[dict[str, str]]:
    seen: set[str] = set()
    out: list[dict[str, str]] = []
    for group in groups:
        uid = _text(group.uid)
        name = _text(group.name)
        if uid is not None:
            if uid in seen:
                continue
            seen.add(uid)
            out.append({"uid": uid, "name": name} if name is not None else {"uid": uid})
        elif name is not None:
            out.append({"name": name})
    return out


def _manager(manager: Any) -> dict[str, str] | None:
    if manager is None or (manager.__class__ is not dict and not isinstance(manager, Mapping)):
        return None
    out: dict[str, str] = {}
    uid = _text(manager.get("id"))
    if uid is not None:
        out["uid"] = uid
    name = _text(manager.get("displayName"))
    if name is not None:
        out["name"] = name
    return out or None


# Graph string properties read by to_event, cleaned in one pass.
_TEXT_FIELDS: Final = (
    "id",
    "userPrincipalName",
    "displayName",
    "onPremisesSecurityIdentifier",
    "userType",
    "employeeType",
    "companyName",
    "givenName",
    "surname",
    "jobTitle",
    "department",
    "employeeId",
    "officeLocation",
    "onPremisesDistinguishedName",
)
_PERSON_TEXT: Final = (
    ("givenName", "given_name"),
    ("surname", "surname"),
    ("jobTitle", "job_title"),
    ("department", "department"),
    ("employeeId", "employee_uid"),
    ("officeLocation", "office_location"),
)
_PERSON_TIMES: Final = (
    ("createdDateTime", "created_time"),
    ("employeeHireDate", "hire_time"),
    ("employeeLeaveDateTime", "leave_time"),
)
_EMPLOYMENT_TEXT: Final = (
    ("department", "department"),
    ("jobTitle", "job_title"),
    ("employeeId", "employee_id"),
    ("employeeType", "employee_type"),
)


# --------------------------------------------------------------------------- the mapping


def to_event(
    user: Mapping[str, Any],
    facts: UserFacts,
    *,
    collected_at_ms: int,
    tenant_id: str,
    product: Product,
) -> dict[str, Any]:
    """One Graph user -> one OCSF 1.8.0 User Inventory Info / Collect event (see MAPPING)."""
    if user.__class__ is not dict and not isinstance(user, Mapping):
        raise MappingError(f"user record is a {type(user).__name__}, not an object")
    get = user.get
    texts: dict[str, str] = {}
    for key in _TEXT_FIELDS:
        value = get(key)
        if value is None:
            continue
        if value.__class__ is str:
            value = value.strip()
            if value and value not in PLACEHOLDERS:
                texts[key] = value
        elif (value := _text(value)) is not None:
            texts[key] = value
    text = texts.get
    uid = text("id")
    if uid is None:
        raise MappingError("user record has no usable id")
    upn = text("userPrincipalName")
    user_type = text("userType")
    enabled = get("accountEnabled")
    if enabled.__class__ is not bool:
        enabled = None

    account: dict[str, Any] = {"uid": uid, "type_id": _ACCOUNT_TYPE_ID, "type": _ACCOUNT_TYPE}
    if upn is not None:
        account["name"] = upn
    if enabled is not None:
        account["is_disabled"] = not enabled
    synced = get("onPremisesSyncEnabled")
    if synced.__class__ is bool:
        account["is_on_premises_sync_enabled"] = synced

    out_user: dict[str, Any] = {"uid": uid}
    display_name = text("displayName")
    if display_name is not None:
        out_user["name"] = display_name
        out_user["display_name"] = display_name
    sid = text("onPremisesSecurityIdentifier")
    if sid is not None:
        out_user["uid_alt"] = sid
    email = _primary_email(get, upn)
    if email is not None:
        out_user["email_addr"] = email
    if upn is not None and "@" in upn:
        domain = _text(upn.rpartition("@")[2])
        if domain is not None:
            out_user["domain"] = domain
    out_user["account"] = account

    status: dict[str, Any] = {}
    if enabled is not None:
        status["is_enabled"] = enabled
    roles = facts.roles
    if roles is not None:
        is_admin = len(roles) > 0
        out_user["type_id"] = _USER_TYPE_ADMIN if is_admin else _USER_TYPE_USER
        out_user["type"] = USER_TYPE_CAPTIONS[out_user["type_id"]]
    mfa = facts.mfa
    if mfa is not None and mfa.registered.__class__ is bool:
        out_user["has_mfa"] = mfa.registered
        status["is_mfa"] = mfa.registered
        methods = _unique_texts(mfa.methods) if mfa.methods else None
        if methods:
            status["mfa_methods"] = methods
    risk = facts.risk
    if risk is not None:
        level = _RISK_LEVELS.get(risk.level) if risk.level is not None else None
        if level is not None:
            out_user["risk_level_id"], out_user["risk_level"] = level
            status["risk_level"] = risk.level
        if risk.state is not None and risk.state in _RISK_STATES:
            status["risk_state"] = risk.state
        if risk.updated is not None:
            updated = _epoch_ms(risk.updated)
            if updated is not None:
                status["risk_updated_time"] = updated
    if facts.groups:
        groups = _groups(facts.groups)
        if groups:
            out_user["groups"] = groups

    # OCSF needs an organization's name (or uid): no company, no org.
    company = text("companyName")
    if company is not None:
        office = text("officeLocation")
        out_user["org"] = {"name": company, "ou_name": office} if office else {"name": company}

    person: dict[str, Any] = {dst: texts[src] for src, dst in _PERSON_TEXT if src in texts}
    org_data = get("employeeOrgData")
    if org_data.__class__ is dict:
        cost_center = _text(org_data.get("costCenter"))
        if cost_center is not None:
            person["cost_center"] = cost_center
    dn = text("onPremisesDistinguishedName")
    if dn is not None:
        person["ldap_dn"] = dn
    for src, dst in _PERSON_TIMES:
        moment = _epoch_ms(get(src))
        if moment is not None:
            person[dst] = moment
    last_login = _last_login_ms(get("signInActivity"))
    if last_login is not None:
        person["last_login_time"] = last_login
    others = _other_emails(get("otherMails"), email)
    if others:
        person["email_addrs"] = others
    employee_type = text("employeeType")
    if user_type is not None:
        person["labels"] = (
            [user_type, employee_type]
            if employee_type is not None and employee_type != user_type
            else [user_type]
        )
    elif employee_type is not None:
        person["labels"] = [employee_type]
    manager = _manager(facts.manager)
    if manager is not None:
        person["manager"] = manager
    deleted = facts.deleted
    if deleted is not None:
        deleted_ms = _epoch_ms(deleted.time) if deleted.time is not None else None
        person["deleted_time"] = deleted_ms if deleted_ms is not None else collected_at_ms
        status["is_deleted"] = True
        status["deletion"] = deleted.kind
    if person:
        out_user["ldap_person"] = person

    restricted = get("isManagementRestricted")
    if restricted.__class__ is bool:
        status["is_restricted"] = restricted
    if last_login is not None:
        status["last_logon"] = last_login
    if roles is not None:
        status["is_admin"] = len(roles) > 0
        role_names = _unique_texts(roles) if roles else None
        if role_names:
            status["admin_roles"] = role_names
    if user_type is not None:
        status["user_type"] = user_type

    enrichments: list[dict[str, Any]] = []
    if status:
        enrichments.append(
            {
                "name": "account",
                "value": "status",
                "type": "account_status",
                "provider": _ENRICHMENT_PROVIDER,
                "created_time": collected_at_ms,
                "data": status,
            }
        )
    employment = {dst: texts[src] for src, dst in _EMPLOYMENT_TEXT if src in texts}
    if employment:
        department, job_title = text("department"), text("jobTitle")
        if department is not None and job_title is not None:
            value = f"{department} / {job_title}"
        else:
            value = department or job_title or employee_type or employment["employee_id"]
        enrichments.append(
            {
                "name": "employment",
                "value": value,
                "type": "employment",
                "provider": _ENRICHMENT_PROVIDER,
                "created_time": collected_at_ms,
                "data": employment,
            }
        )

    if facts.sso_apps is not None:
        apps = _groups(facts.sso_apps)
        data: dict[str, Any] = {"count": len(apps)}
        if apps:
            data["items"] = apps[:SSO_APPS_LIMIT]
        enrichments.append(
            {
                "name": "sso_apps",
                "value": f"{len(apps)} SSO applications",
                "type": "sso_apps",
                "provider": _ENRICHMENT_PROVIDER,
                "created_time": collected_at_ms,
                "data": data,
            }
        )

    metadata: dict[str, Any] = {
        "version": OCSF_VERSION,
        "product": _product(product),
        "uid": event_uid(tenant_id, uid, collected_at_ms),
    }
    tenant = _text(tenant_id)
    if tenant is not None:
        metadata["tenant_uid"] = tenant

    event = {**_HEADER, "time": collected_at_ms, "metadata": metadata, "user": out_user}
    if enrichments:
        event["enrichments"] = enrichments
    return event


# --------------------------------------------------------------------------- the table

def _const(path: str, value: object) -> MappingRow:
    return constant_rows({path: value})[0]




def _enrichment(name: str, rows: Sequence[tuple[str, str, str, Origin]]) -> list[MappingRow]:
    base = f"enrichments[name={name}]"
    return [MappingRow(s, f"{base}.{p}" if p else base, r, o) for s, p, r, o in rows]


MAPPING: Final[tuple[MappingRow, ...]] = (
    *constant_rows(_HEADER),
    MappingRow(
        "collection time",
        "time",
        "when the collection cycle ran, epoch ms (not the user's creation time)",
        "context",
    ),
    _const("metadata.version", OCSF_VERSION),
    MappingRow("connector", "metadata.product.name", "the connector's product name", "context"),
    MappingRow("connector", "metadata.product.vendor_name", "the connector's vendor", "context"),
    MappingRow("connector", "metadata.product.version", "the connector's version", "context"),
    MappingRow(
        "tenant id, `id`, collection time",
        "metadata.uid",
        "uuid5(`EVENT_UID_NAMESPACE`, `{tenant_id}/{id}/{collected_at_ms}`): a re-delivered "
        "event keeps its uid",
        "context",
    ),
    MappingRow("tenant id (configuration)", "metadata.tenant_uid", "as configured", "context"),
    MappingRow("`id`", "user.uid", "object id; a record without a usable `id` is skipped"),
    MappingRow("`displayName`", "user.name", "display name"),
    MappingRow("`displayName`", "user.display_name", "display name, as reported"),
    MappingRow(
        "`onPremisesSecurityIdentifier`", "user.uid_alt", "on-premises SID of a synced user"
    ),
    MappingRow("`mail`", "user.email_addr", "when it is a valid `email_t` address"),
    MappingRow(
        "`proxyAddresses`",
        "user.email_addr",
        "fallback 1: the primary `SMTP:` address, when `mail` is unusable",
    ),
    MappingRow(
        "`userPrincipalName`",
        "user.email_addr",
        "fallback 2: the UPN when it is a valid address and not a guest `#EXT#` UPN",
    ),
    MappingRow("`otherMails`", "user.email_addr", "fallback 3: the first valid address"),
    MappingRow(
        "`userPrincipalName`",
        "user.domain",
        "text after the last `@` (for a guest, the inviting tenant's domain)",
    ),
    MappingRow("`userPrincipalName`", "user.account.name", "UPN"),
    MappingRow("`id`", "user.account.uid", "object id"),
    _const("user.account.type_id", _ACCOUNT_TYPE_ID),
    _const("user.account.type", ACCOUNT_TYPE_CAPTIONS[_ACCOUNT_TYPE_ID]),
    MappingRow(
        "`accountEnabled`", "user.account.is_disabled", "`not accountEnabled`; omitted when null"
    ),
    MappingRow(
        "`onPremisesSyncEnabled`",
        "user.account.is_on_premises_sync_enabled",
        "omitted when null (cloud-only user)",
    ),
    MappingRow(
        "admin roles",
        "user.type_id",
        "`2` (Admin) when the user holds any directory role (directly or through a "
        "role-assignable group), else `1` (User); omitted when roles were not collected",
        "facts",
    ),
    MappingRow("admin roles", "user.type", "caption of `user.type_id`", "facts"),
    MappingRow(
        "MFA registration",
        "user.has_mfa",
        "registered or not; omitted when unknown (unlicensed, disabled user, no permission)",
        "facts",
    ),
    MappingRow(
        "user risk (`riskyUsers.riskLevel`)",
        "user.risk_level_id",
        "`low` 1, `medium` 2, `high` 3; `none` (nothing detected, or risk remediated, "
        "dismissed or confirmed safe) and users Identity Protection does not list 0 (Info); "
        "`hidden` and unknown values omitted; omitted for everyone when riskyUsers was not "
        "read (no Entra ID P2, no IdentityRiskyUser.Read.All)",
        "facts",
    ),
    MappingRow("user risk", "user.risk_level", "caption of `user.risk_level_id`", "facts"),
    MappingRow("group memberships", "user.groups[].uid", "group object id", "facts"),
    MappingRow("group memberships", "user.groups[].name", "group display name", "facts"),
    MappingRow("`companyName`", "user.org.name", "company name"),
    MappingRow(
        "`officeLocation`",
        "user.org.ou_name",
        "office location, as the issue specifies; only with `companyName` (an OCSF "
        "organization needs a name)",
    ),
    MappingRow("`givenName`", "user.ldap_person.given_name", ""),
    MappingRow("`surname`", "user.ldap_person.surname", ""),
    MappingRow("`jobTitle`", "user.ldap_person.job_title", ""),
    MappingRow("`department`", "user.ldap_person.department", ""),
    MappingRow("`employeeId`", "user.ldap_person.employee_uid", ""),
    MappingRow("`officeLocation`", "user.ldap_person.office_location", ""),
    MappingRow("`employeeOrgData.costCenter`", "user.ldap_person.cost_center", ""),
    MappingRow("`onPremisesDistinguishedName`", "user.ldap_person.ldap_dn", "synced users only"),
    MappingRow("`createdDateTime`", "user.ldap_person.created_time", "epoch ms"),
    MappingRow("`employeeHireDate`", "user.ldap_person.hire_time", "epoch ms"),
    MappingRow("`employeeLeaveDateTime`", "user.ldap_person.leave_time", "epoch ms"),
    MappingRow(
        "`signInActivity.lastSuccessfulSignInDateTime`",
        "user.ldap_person.last_login_time",
        "epoch ms of the last successful sign-in (interactive or not)",
    ),
    MappingRow(
        "`signInActivity.lastSignInDateTime`",
        "user.ldap_person.last_login_time",
        "fallback when `lastSuccessfulSignInDateTime` is absent",
    ),
    MappingRow(
        "`otherMails`",
        "user.ldap_person.email_addrs",
        "valid addresses other than `user.email_addr`, deduplicated",
    ),
    MappingRow(
        "`userType`, `employeeType`", "user.ldap_person.labels", 'e.g. `["Member", "Employee"]`'
    ),
    MappingRow("manager", "user.ldap_person.manager.uid", "manager's object id", "facts"),
    MappingRow("manager", "user.ldap_person.manager.name", "manager's display name", "facts"),
    MappingRow(
        "deletion (`users/delta` `@removed`; `deletedDateTime` from `/directory/deletedItems`)",
        "user.ldap_person.deleted_time",
        "epoch ms, deleted users only: Graph's `deletedDateTime` for a soft delete, else when "
        "the connector learnt of the deletion; absent for a present (or restored) user",
        "facts",
    ),
    *_enrichment(
        "account",
        (
            ("(constant)", "", '`"name": "account"`, when any field below is known', "constant"),
            ("(constant)", "value", '`"status"`', "constant"),
            ("(constant)", "type", '`"account_status"`', "constant"),
            ("(constant)", "provider", '`"Microsoft Graph"`', "constant"),
            ("collection time", "created_time", "epoch ms", "context"),
            ("`accountEnabled`", "data.is_enabled", "boolean; omitted when null", "user"),
            ("MFA registration", "data.is_mfa", "only when known", "facts"),
            ("MFA registration", "data.mfa_methods", "Graph method names, when known", "facts"),
            ("`isManagementRestricted`", "data.is_restricted", "only when present", "user"),
            (
                "`signInActivity`",
                "data.last_logon",
                "same value as `last_login_time` (epoch ms)",
                "user",
            ),
            ("admin roles", "data.is_admin", "only when roles were collected", "facts"),
            (
                "user risk",
                "data.risk_level",
                "Graph's `riskLevel` (`none` for users Identity Protection does not list), "
                "whenever `user.risk_level_id` is set",
                "facts",
            ),
            (
                "user risk",
                "data.risk_state",
                "Graph's `riskState` (`atRisk`, `confirmedCompromised`, `remediated`, "
                "`dismissed`, `confirmedSafe`, `none`) for users Identity Protection lists",
                "facts",
            ),
            (
                "user risk",
                "data.risk_updated_time",
                "`riskLastUpdatedDateTime`, epoch ms, for users Identity Protection lists",
                "facts",
            ),
            ("admin roles", "data.admin_roles", "role display names", "facts"),
            ("`userType`", "data.user_type", "`Member` or `Guest`", "user"),
            ("deletion", "data.is_deleted", "`true` for a deleted user only", "facts"),
            (
                "deletion",
                "data.deletion",
                "`soft` (`@removed` reason `changed`: in deleted items, restorable for 30 days) "
                "or `hard` (reason `deleted`: purged)",
                "facts",
            ),
        ),
    ),
    *_enrichment(
        "employment",
        (
            (
                "(constant)",
                "",
                '`"name": "employment"`, when any of the fields below is known',
                "constant",
            ),
            (
                "`department`, `jobTitle`, `employeeType`, `employeeId`",
                "value",
                '"department / job title" (either alone when only one is set), else the '
                "employee type, else the employee id",
                "user",
            ),
            ("(constant)", "type", '`"employment"`', "constant"),
            ("(constant)", "provider", '`"Microsoft Graph"`', "constant"),
            ("collection time", "created_time", "epoch ms", "context"),
            ("`department`", "data.department", "", "user"),
            ("`jobTitle`", "data.job_title", "", "user"),
            ("`employeeId`", "data.employee_id", "", "user"),
            ("`employeeType`", "data.employee_type", "", "user"),
        ),
    ),
    *_enrichment(
        "sso_apps",
        (
            (
                "(constant)",
                "",
                '`"name": "sso_apps"`, with `workload_identities.user_sso_apps` (the '
                "applications' `appRoleAssignedTo`, read once per full collection)",
                "constant",
            ),
            ("(count)", "value", '"N SSO applications"', "facts"),
            ("(constant)", "type", '`"sso_apps"`', "constant"),
            ("(constant)", "provider", '`"Microsoft Graph"`', "constant"),
            ("collection time", "created_time", "epoch ms", "context"),
            ("appRoleAssignedTo", "data.count", "applications the user is assigned to, directly "
             "or through a group the user is a direct member of", "facts"),
            ("service principal `id`", "data.items[].uid", "the workload inventory's `user.uid`; "
             "at most 50", "facts"),
            ("service principal `displayName`", "data.items[].name", "", "facts"),
        ),
    ),
)

#: Top-level Graph user properties the mapping reads (what a `$select` should ask for).
GRAPH_USER_FIELDS: Final[tuple[str, ...]] = tuple(
    sorted(
        {
            name.strip("` ").split(".")[0]
            for row in MAPPING
            if row.origin == "user"
            for name in row.source.split(",")
        }
    )
)

# --------------------------------------------------------------------------- the document

EXAMPLE_COLLECTED_AT_MS: Final = 1_767_225_600_000  # 2026-01-01T00:00:00Z
EXAMPLE_TENANT_ID: Final = "00000000-0000-4000-8000-0000000000aa"
EXAMPLE_PRODUCT: Final = Product(
    name="Entra ID user inventory", vendor_name="Microsoft", version="0.1.0"
)
EXAMPLE_FACTS: Final = UserFacts(
    groups=(
        Group("9a8b7c6d-0000-4000-8000-000000000002", "Finance Analysts"),
        Group("9a8b7c6d-0000-4000-8000-000000000004", "Role: Billing Administrators"),
    ),
    roles=("Billing Administrator",),
    mfa=Mfa(registered=True, methods=("microsoftAuthenticatorPush", "fido2")),
    manager={
        "id": "aaaaaaaa-0000-4000-8000-000000000003",
        "displayName": "Sam Boss",
        "userPrincipalName": "sam.boss@contoso.com",
    },
    risk=Risk(level="medium", state="atRisk", updated="2025-12-30T08:00:00Z"),
    sso_apps=(Group("5b0e6a4c-0000-4000-8000-00000000a001", "Payroll Export"),),
)


def example_user() -> dict[str, Any]:
    """A fully-populated Graph user (every mapped property set); a fresh dict per call."""
    return {
        "id": "3f1c2d4e-1111-4222-8333-444455556666",
        "userPrincipalName": "jane.doe@contoso.com",
        "displayName": "Jane Doe",
        "givenName": "Jane",
        "surname": "Doe",
        "mail": "jane.doe@contoso.com",
        "otherMails": ["jane@fabrikam.com", "Jane.Doe@contoso.com"],
        "proxyAddresses": ["SMTP:jane.doe@contoso.com", "smtp:jd@contoso.com"],
        "accountEnabled": True,
        "userType": "Member",
        "employeeType": "Employee",
        "companyName": "Contoso",
        "department": "Finance",
        "jobTitle": "Analyst",
        "employeeId": "E123",
        "employeeOrgData": {"costCenter": "CC-42", "division": "EMEA"},
        "employeeHireDate": "2021-03-01T00:00:00Z",
        "employeeLeaveDateTime": "2027-06-30T00:00:00Z",
        "officeLocation": "Bldg 1",
        "createdDateTime": "2023-11-14T22:13:20Z",
        "onPremisesSyncEnabled": True,
        "onPremisesSecurityIdentifier": "S-1-5-21-1-2-3-1001",
        "onPremisesDistinguishedName": "CN=Jane Doe,OU=Finance,DC=contoso,DC=com",
        "isManagementRestricted": False,
        "signInActivity": {
            "lastSignInDateTime": "2025-12-31T23:50:00Z",
            "lastNonInteractiveSignInDateTime": "2025-12-31T23:55:00Z",
            "lastSuccessfulSignInDateTime": "2025-12-31T23:45:00Z",
        },
    }


_DOC_RULES = """\
## Rules that apply to every field

- **Unknown is omitted, never guessed.** No `null`, no empty string, list or object, and no
  `"Unknown"` / `"N/A"` placeholder strings: a field whose value is unknown is left out. Strings are
  stripped; whitespace-only strings are unknown. An integer where Graph should send a string is
  taken as its decimal text; any other wrong type (a list for a string, a string for a boolean…)
  is unknown.
- **Unknown is not false.** `user.has_mfa` and `is_mfa` appear only when MFA registration was
  collected for the user (the bulk report needs Entra ID P1/P2 and skips disabled users).
  `user.type_id` / `user.type` and `is_admin` / `admin_roles` appear only when role assignments
  were collected; "no roles" is then `1` (User). Group membership is emitted only when collected
  and non-empty. `user.risk_level_id` appears only when Identity Protection's risky users were
  read (Entra ID P2 and `IdentityRiskyUser.Read.All`); a user it does not list is then `0`
  (Info: no risk detected).
- **Timestamps** are epoch milliseconds (OCSF `timestamp_t`). Graph's ISO 8601 strings are parsed
  with `datetime.fromisoformat`; a string without a time zone is taken as UTC; an unparsable date,
  or the .NET sentinels `0001-01-01` / `9999-12-31`, is unknown and omitted.
- **Email addresses** must match the schema's `email_t` pattern; anything else (including a guest's
  `#EXT#` UPN, which the pattern would accept) is never emitted as an address. The seed product's
  `mailNickname` fallback is not used: a mail nickname is not an address.
- **`time`** is the collection time, not the user's creation time (that is
  `user.ldap_person.created_time`). `metadata.uid` is stable for a re-delivered event.
- **Last login** is the last *successful* sign-in (`lastSuccessfulSignInDateTime`, which covers
  interactive and non-interactive sign-ins). `lastSignInDateTime` (interactive, and it counts
  failed attempts) is used only when the successful one is absent, so a password-spraying attempt
  against a dormant account does not make it look in use. Both need `signInActivity`
  (Entra ID P1/P2).
- **`user.name`** is the display name, as the issue asks; the UPN is `user.account.name`.
  `user.full_name` is not emitted: Graph reports no full name, only a display name (which can be
  "Conference Room 4").
- **`user.org`** has no `uid`: `companyName` is the user's company, which for guests and
  contractors is not the tenant; the tenant is `metadata.tenant_uid`.
- **`@odata.type`** and any property not listed below are ignored.
"""




def render_mapping_doc() -> str:
    """docs/mapping.md, rendered from MAPPING and the example so the document cannot drift."""
    example = to_event(
        example_user(),
        EXAMPLE_FACTS,
        collected_at_ms=EXAMPLE_COLLECTED_AT_MS,
        tenant_id=EXAMPLE_TENANT_ID,
        product=EXAMPLE_PRODUCT,
    )
    lines = [
        "# Graph -> OCSF 1.8.0 mapping (User Inventory Info, class 5003)",
        "",
        "<!-- Generated by `python -m connector.ocsf --mapping-doc > docs/mapping.md`; "
        "do not edit by hand. -->",
        "",
        "Every user becomes one **User Inventory Info: Collect** event (`class_uid` 5003, "
        "`activity_id` 2, `type_uid` 500302, severity Informational) that validates against "
        "the bundled OCSF 1.8.0 JSON Schema (`schemas/`). The mapping is `connector.ocsf.user_inventory.to_event`, "
        "a pure function of the Graph user record and the facts collected about it "
        "(group memberships, admin roles, MFA registration, manager, user risk).",
        "",
        _DOC_RULES,
        "## Field table",
        "",
        "Source: a Graph user property in backticks, or another collected fact. In OCSF paths, "
        "`[]` means every list item and `[name=x]` the enrichment named `x`.",
        "",
        "| Graph source | OCSF path | Rule |",
        "| --- | --- | --- |",
    ]
    lines += [
        f"| {cell(r.source)} | `{r.path}` | {cell(r.rule or 'as reported')} |" for r in MAPPING
    ]
    lines += [
        "",
        "Graph user properties read (for `$select`): "
        + ", ".join(f"`{name}`" for name in GRAPH_USER_FIELDS)
        + ".",
        "",
        "## Example",
        "",
        "Graph user record:",
        "",
        *json_block(example_user()),
        "Facts: groups "
        + ", ".join(f'"{g.name}"' for g in EXAMPLE_FACTS.groups or ())
        + "; roles "
        + ", ".join(f'"{r}"' for r in EXAMPLE_FACTS.roles or ())
        + "; MFA registered with "
        + ", ".join(f"`{m}`" for m in (EXAMPLE_FACTS.mfa.methods if EXAMPLE_FACTS.mfa else ()))
        + "; manager Sam Boss; user risk medium (at risk). Collected at 2026-01-01T00:00:00Z.",
        "",
        "Event:",
        "",
        *json_block(example),
    ]
    return "\n".join(lines)
