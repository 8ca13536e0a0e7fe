"""Pure mapping of an Entra service principal (a workload identity) and what it holds to an OCSF
1.8.0 User Inventory Info event (class 5003, activity Collect) describing a non-human account.

No I/O. `user.type_id` is 4 (Service), `user.uid` the service principal's object id (what
`appRoleAssignedTo`, `oauth2PermissionGrants.clientId` and the sign-in log's
`servicePrincipalId` carry) and `user.uid_alt` its `appId` (the client id a sign-in, a consent
prompt or a vendor names). `user.account` has the user inventory's shape (`uid` the object id,
`name` the appId, Azure AD Account), so one query over class 5003 covers people and workloads.

Why 5003 and not Cloud Resources Inventory Info (5023): a service principal is an *identity*
(it authenticates, holds credentials and is granted permissions), and 5003's `user` object has
the two native fields this inventory is about, `type_id` Service and `programmatic_credentials`;
5023 describes resources (`cloud`, `resources[]`) and would carry the credentials, owners and
permissions only as free-form `resources[].data`. docs/mapping.md argues it with examples.

OCSF 1.8.0's `programmatic_credential` has `uid`, `type` and `last_used_time` only: each
credential's start and **expiry** go in `enrichments[name=credentials]` (keyed by the same
`uid`), with the application permissions, delegated consents, owners and the SSO roster in
their own named enrichments (`MAPPING`, rendered into docs/mapping.md). Unknown is omitted:
`None` facts (not collected) leave their enrichment out; an empty tuple (collected, none) is
reported as zero.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from connector.ocsf.common import (
    ACCOUNT_TYPE_CAPTIONS,
    CATEGORY_DISCOVERY,
    OCSF_VERSION,
    MappingError,
    MappingRow,
    Product,
    cell,
    constant_rows,
    epoch_ms,
    event_header,
    event_uid,
    json_block,
    product_json,
    text,
)
from connector.ocsf.device_inventory import Owner
from connector.ocsf.user_inventory import EVENT_CAPTIONS, USER_TYPE_CAPTIONS, Deletion

__all__ = [
    "CLASS_UID",
    "EVENT_CAPTIONS",
    "FIRST_PARTY_TENANTS",
    "GRAPH_SERVICE_PRINCIPAL_FIELDS",
    "HIGH_IMPACT_PERMISSIONS",
    "MAPPING",
    "AppPermission",
    "Consent",
    "Credential",
    "Deletion",
    "MappingError",
    "MappingRow",
    "Owner",
    "Roster",
    "WorkloadFacts",
    "credentials_of",
    "epoch_ms",
    "is_high_impact",
    "origin_of",
    "render_mapping_section",
    "to_event",
]

CLASS_UID: Final = 5003
_CLASS_UID: Final = CLASS_UID
_ACTIVITY_ID: Final = 2  # Collect
_SEVERITY_ID: Final = 1  # Informational
USER_TYPE_SERVICE: Final = 4  # OCSF 1.8.0 user.type_id: 0 Unknown, 1 User, 2 Admin, 3 System, 4 Service
_ACCOUNT_TYPE_ID: Final = 6  # Azure AD Account
_PROVIDER: Final = "Microsoft Graph"
_HEADER: Final[Mapping[str, Any]] = event_header(
    class_uid=_CLASS_UID, class_name="User Inventory Info", category_uid=5,
    category_name=CATEGORY_DISCOVERY[5], activity_id=_ACTIVITY_ID, activity_name="Collect",
    severity_id=_SEVERITY_ID)

#: Microsoft's first-party application tenants: "Microsoft Services" (where Microsoft's
#: multi-tenant apps are registered) and Microsoft's own corporate tenant, which owns a few.
FIRST_PARTY_TENANTS: Final = frozenset({"f8cdef31-a31e-4b4a-93e4-5f571e91255a",
                                        "72f988bf-86f1-41af-91ab-2d7cd011db47"})

#: Permissions (application roles or delegated scopes, by value) that let an app read every
#: mailbox or file, write the directory, or grant itself or others more privilege. Reasoning
#: and sources in docs/mapping.md ("High-impact permissions").
HIGH_IMPACT_PERMISSIONS: Final[Mapping[str, str]] = {
    "Mail.Read": "reads every mailbox",
    "Mail.ReadWrite": "reads and changes every mailbox",
    "Mail.Send": "sends mail as any user",
    "MailboxSettings.ReadWrite": "changes any mailbox's rules and forwarding",
    "full_access_as_app": "Exchange Web Services with full access to every mailbox",
    "EWS.AccessAsUser.All": "Exchange Web Services as the signed-in user",
    "Files.Read.All": "reads every file in OneDrive and SharePoint",
    "Files.ReadWrite.All": "reads and changes every file",
    "Sites.Read.All": "reads every SharePoint site",
    "Sites.ReadWrite.All": "changes every SharePoint site",
    "Sites.FullControl.All": "full control of every SharePoint site",
    "Directory.ReadWrite.All": "writes the directory",
    "Directory.AccessAsUser.All": "the directory as the signed-in user (an admin: everything)",
    "User.ReadWrite.All": "changes every user",
    "Group.ReadWrite.All": "changes every group, and so its members' access",
    "GroupMember.ReadWrite.All": "adds anyone to any group, role-assignable ones included",
    "RoleManagement.ReadWrite.Directory": "assigns any directory role, Global Administrator included",
    "AppRoleAssignment.ReadWrite.All": "grants any application permission, to itself too",
    "Application.ReadWrite.All": "adds credentials to any application and acts as it",
    "UserAuthenticationMethod.ReadWrite.All": "changes anyone's sign-in methods",
    "Policy.ReadWrite.ConditionalAccess": "switches Conditional Access off",
    "Domain.ReadWrite.All": "adds federated domains (forged sign-ins)",
}


def is_high_impact(permission: str | None) -> bool:
    return permission is not None and permission in HIGH_IMPACT_PERMISSIONS


@dataclass(frozen=True, slots=True)
class Credential:
    """A client secret (`password`) or certificate / key (`certificate`), Graph's
    passwordCredential / keyCredential, from the app registration (`application`) or the
    service principal itself (`service_principal`: SAML signing certificates, managed
    identities)."""

    key_id: str
    kind: Literal["password", "certificate"]
    source: Literal["application", "service_principal"]
    display_name: str | None = None
    key_type: str | None = None  # keyCredential.type: AsymmetricX509Cert, Symmetric, ...
    usage: str | None = None  # keyCredential.usage: Verify, Sign
    start: str | None = None  # ISO 8601 (startDateTime)
    end: str | None = None  # ISO 8601 (endDateTime)


@dataclass(frozen=True, slots=True)
class AppPermission:
    """An application permission held (an appRoleAssignment of this service principal)."""

    resource_id: str
    resource: str | None  # resourceDisplayName: "Microsoft Graph"
    permission: str | None  # the app role's value: "Mail.ReadWrite"; None = role not resolved
    app_role_id: str


@dataclass(frozen=True, slots=True)
class Consent:
    """Delegated scopes granted to this client on one resource: tenant-wide (`AllPrincipals`)
    and/or for `users` individual users (`Principal` grants)."""

    resource_id: str
    resource: str | None
    scopes: tuple[str, ...]
    all_users: bool
    users: int = 0


@dataclass(frozen=True, slots=True)
class Roster:
    """The SSO roster: users and groups assigned to the application (`appRoleAssignedTo`)."""

    users: int
    groups: int


@dataclass(frozen=True, slots=True)
class WorkloadFacts:
    credentials: tuple[Credential, ...] | None = None  # None = not collected
    app_permissions: tuple[AppPermission, ...] | None = None
    consents: tuple[Consent, ...] | None = None
    owners: tuple[Owner, ...] | None = None  # users owning the app or service principal
    roster: Roster | None = None
    last_sign_in: str | None = None  # servicePrincipalSignInActivity.lastSignInActivity
    deleted: Deletion | None = None


def origin_of(sp: Mapping[str, Any], tenant_id: str) -> str | None:
    """`first_party` (Microsoft), `this_tenant`, `third_party` (another tenant's multi-tenant
    app), `managed_identity`; None when Graph does not say."""
    if sp.get("servicePrincipalType") == "ManagedIdentity":
        return "managed_identity"
    owner = text(sp.get("appOwnerOrganizationId"))
    if owner is None:
        return None
    owner = owner.lower()
    if owner in FIRST_PARTY_TENANTS:
        return "first_party"
    return "this_tenant" if owner == tenant_id.lower() else "third_party"


def credentials_of(record: Mapping[str, Any], source: Literal["application", "service_principal"]
                   ) -> tuple[Credential, ...]:
    """The Credential facts of an application's or service principal's Graph record."""
    out: list[Credential] = []
    for kind, key in (("password", "passwordCredentials"), ("certificate", "keyCredentials")):
        items = record.get(key)
        if not isinstance(items, list):
            continue
        for item in items:
            if not isinstance(item, Mapping):
                continue
            key_id = text(item.get("keyId"))
            if key_id is None:
                continue
            out.append(Credential(key_id, kind, source,  # type: ignore[arg-type]
                                  text(item.get("displayName")), text(item.get("type")),
                                  text(item.get("usage")), text(item.get("startDateTime")),
                                  text(item.get("endDateTime"))))
    return tuple(out)


def _credential_type(c: Credential) -> str:
    return "Client secret" if c.kind == "password" else (c.key_type or "Certificate")


def _credentials(creds: Sequence[Credential], now_ms: int) -> dict[str, Any]:
    items: list[dict[str, Any]] = []
    next_end: int | None = None
    expired = 0
    for c in creds:
        item: dict[str, Any] = {"uid": c.key_id, "type": _credential_type(c), "kind": c.kind,
                                "source": c.source}
        if c.display_name is not None:
            item["name"] = c.display_name
        if c.usage is not None:
            item["usage"] = c.usage
        start, end = epoch_ms(c.start), epoch_ms(c.end)
        if start is not None:
            item["start_time"] = start
        if end is not None:
            item["end_time"] = end
            item["is_expired"] = end <= now_ms
            if end <= now_ms:
                expired += 1
            elif next_end is None or end < next_end:
                next_end = end
        items.append(item)
    data: dict[str, Any] = {"count": len(items), "expired": expired, "items": items}
    _drop_empty(data)
    if next_end is not None:
        data["next_end_time"] = next_end
    return data


def _permissions(perms: Sequence[AppPermission]) -> dict[str, Any]:
    items: list[dict[str, Any]] = []
    for p in perms:
        permission = text(p.permission)
        item: dict[str, Any] = {"is_high_impact": is_high_impact(permission)}
        for key, value in (("resource_uid", p.resource_id), ("app_role_uid", p.app_role_id),
                           ("resource", p.resource), ("permission", permission)):
            if (value := text(value)) is not None:
                item[key] = value
        items.append(item)
    high = sorted({i["permission"] for i in items if i["is_high_impact"]})
    return _drop_empty({"count": len(items), "high_impact": high, "items": items})


def _consents(consents: Sequence[Consent]) -> dict[str, Any]:
    items: list[dict[str, Any]] = []
    for c in consents:
        scopes = list(dict.fromkeys(s for s in map(text, c.scopes) if s is not None))
        item: dict[str, Any] = {"scopes": scopes, "is_tenant_wide": c.all_users, "users": c.users,
                                "high_impact": [s for s in scopes if is_high_impact(s)]}
        for key, value in (("resource_uid", c.resource_id), ("resource", c.resource)):
            if (value := text(value)) is not None:
                item[key] = value
        items.append(_drop_empty(item))
    high = sorted({s for i in items for s in i.get("high_impact", ())})
    return _drop_empty({"count": len(items), "is_tenant_wide": any(c.all_users for c in consents),
                        "users": sum(c.users for c in consents), "high_impact": high, "items": items})


def _drop_empty(data: dict[str, Any]) -> dict[str, Any]:
    """Unknown and none are told apart by `count`: an empty list is never emitted."""
    for key in [k for k, v in data.items() if v == []]:
        del data[key]
    return data


def _owner(o: Owner) -> dict[str, Any]:
    out: dict[str, Any] = {"uid": o.uid}
    for key, value in (("name", o.name), ("account_name", o.upn)):
        if (value := text(value)) is not None:
            out[key] = value
    return out


def _enrichment(name: str, value: str, data: Any, now_ms: int) -> dict[str, Any]:
    return {"name": name, "value": value, "type": name, "provider": _PROVIDER,
            "created_time": now_ms, "data": data}


def to_event(sp: Mapping[str, Any], facts: WorkloadFacts, *, collected_at_ms: int,
             tenant_id: str, product: Product) -> dict[str, Any]:
    """One Graph servicePrincipal (+ facts) -> one OCSF 1.8.0 User Inventory Info event."""
    if not isinstance(sp, Mapping):
        raise MappingError(f"service principal record is a {type(sp).__name__}, not an object")
    uid = text(sp.get("id"))
    if uid is None:
        raise MappingError("service principal record has no usable id")
    app_id = text(sp.get("appId"))
    name = text(sp.get("displayName"))
    enabled = sp.get("accountEnabled")
    if enabled.__class__ is not bool:
        enabled = None

    account: dict[str, Any] = {"uid": uid, "type_id": _ACCOUNT_TYPE_ID,
                               "type": ACCOUNT_TYPE_CAPTIONS[_ACCOUNT_TYPE_ID]}
    if app_id is not None:
        account["name"] = app_id
    if enabled is not None:
        account["is_disabled"] = not enabled
    user: dict[str, Any] = {"uid": uid, "type_id": USER_TYPE_SERVICE,
                            "type": USER_TYPE_CAPTIONS[USER_TYPE_SERVICE]}
    if app_id is not None:
        user["uid_alt"] = app_id
    if name is not None:
        user["name"] = name
        user["display_name"] = name
    user["account"] = account
    if facts.credentials:
        user["programmatic_credentials"] = [{"uid": c.key_id, "type": _credential_type(c)}
                                            for c in facts.credentials]

    workload: dict[str, Any] = {}
    for src, dst in (("servicePrincipalType", "service_principal_type"), ("appId", "app_id"),
                     ("appOwnerOrganizationId", "app_owner_organization_id"),
                     ("preferredSingleSignOnMode", "sso_mode"), ("signInAudience", "sign_in_audience"),
                     ("appDisplayName", "app_name")):
        value = text(sp.get(src))
        if value is not None:
            workload[dst] = value
    origin = origin_of(sp, tenant_id)
    if origin is not None:
        workload["origin"] = origin
    if enabled is not None:
        workload["is_enabled"] = enabled
    required = sp.get("appRoleAssignmentRequired")
    if required.__class__ is bool:
        workload["assignment_required"] = required
    created = epoch_ms(sp.get("createdDateTime"))
    if created is not None:
        workload["created_time"] = created
    last = epoch_ms(facts.last_sign_in) if facts.last_sign_in is not None else None
    if last is not None:
        workload["last_sign_in_time"] = last
    if facts.deleted is not None:
        deleted_ms = epoch_ms(facts.deleted.time) if facts.deleted.time is not None else None
        workload["is_deleted"] = True
        workload["deletion"] = facts.deleted.kind
        workload["deleted_time"] = deleted_ms if deleted_ms is not None else collected_at_ms
    if facts.owners is not None:
        workload["owner_count"] = len(facts.owners)
    if facts.roster is not None:
        workload["roster_size"] = facts.roster.users + facts.roster.groups

    enrichments: list[dict[str, Any]] = []
    if workload:
        enrichments.append(_enrichment("workload", workload.get("service_principal_type", "status"),
                                       workload, collected_at_ms))
    if facts.credentials is not None:
        data = _credentials(facts.credentials, collected_at_ms)
        enrichments.append(_enrichment("credentials", f"{data['count']} credentials", data,
                                       collected_at_ms))
    if facts.app_permissions is not None:
        data = _permissions(facts.app_permissions)
        enrichments.append(_enrichment("app_permissions", f"{data['count']} application permissions",
                                       data, collected_at_ms))
    if facts.consents is not None:
        data = _consents(facts.consents)
        enrichments.append(_enrichment("delegated_consents", f"{data['count']} consents", data,
                                       collected_at_ms))
    if facts.owners is not None:
        owners = [_owner(o) for o in facts.owners]
        enrichments.append(_enrichment("owners", f"{len(owners)} owners",
                                       _drop_empty({"count": len(owners), "items": owners}),
                                       collected_at_ms))
    if facts.roster is not None:
        r = facts.roster
        enrichments.append(_enrichment("sso", text(sp.get("preferredSingleSignOnMode")) or "roster", {
            "roster_size": r.users + r.groups, "users": r.users, "groups": r.groups,
            **({"mode": workload["sso_mode"]} if "sso_mode" in workload else {})}, collected_at_ms))

    metadata: dict[str, Any] = {"version": OCSF_VERSION, "product": product_json(product),
                                "uid": event_uid(tenant_id, uid, collected_at_ms)}
    tenant = text(tenant_id)
    if tenant is not None:
        metadata["tenant_uid"] = tenant
    event: dict[str, Any] = {**_HEADER, "time": collected_at_ms, "metadata": metadata, "user": user}
    if enrichments:
        event["enrichments"] = enrichments
    return event


# --------------------------------------------------------------------------- the table

def _row(source: str, path: str, rule: str, origin: str = "user") -> MappingRow:
    # MappingRow's origin vocabulary is the user module's; "user" here = the servicePrincipal.
    return MappingRow(source, path, rule, origin)  # type: ignore[arg-type]


def _rows(name: str, value: str, rows: Iterable[tuple[str, str, str, str]]) -> list[MappingRow]:
    base = f"enrichments[name={name}]"
    head = [_row("(constant)", base, f"one enrichment named `{name}`", "constant"),
            _row("(computed)", f"{base}.value", value, "facts"),
            _row("(constant)", f"{base}.type", f"`{name}`", "constant"),
            _row("(constant)", f"{base}.provider", f"`{_PROVIDER}`", "constant"),
            _row("(collection time)", f"{base}.created_time", "epoch ms", "context")]
    return head + [_row(s, f"{base}.data.{p}", r, o) for s, p, r, o in rows]


MAPPING: Final[tuple[MappingRow, ...]] = (
    *constant_rows(_HEADER),
    _row("(collection time)", "time", "epoch ms when the run collected the service principal", "context"),
    _row("(connector)", "metadata.version", "`1.8.0`", "constant"),
    _row("(connector)", "metadata.product.name", "", "context"),
    _row("(connector)", "metadata.product.vendor_name", "", "context"),
    _row("(connector)", "metadata.product.version", "", "context"),
    _row("`id` + tenant + time", "metadata.uid", "UUIDv5: stable for a re-delivered event", "context"),
    _row("(configuration)", "metadata.tenant_uid", "the tenant id", "context"),
    _row("`id`", "user.uid", "the service principal's object id"),
    _row("`appId`", "user.uid_alt", "the application (client) id"),
    _row("(constant)", "user.type_id", "`4`: a non-human account", "constant"),
    _row("(constant)", "user.type", "`Service`", "constant"),
    _row("`displayName`", "user.name", ""),
    _row("`displayName`", "user.display_name", ""),
    _row("`id`", "user.account.uid", "as for people: the object id"),
    _row("`appId`", "user.account.name", "the client id a sign-in names"),
    _row("(constant)", "user.account.type_id", "`6`", "constant"),
    _row("(constant)", "user.account.type", "`Azure AD Account`", "constant"),
    _row("`accountEnabled`", "user.account.is_disabled", "`not accountEnabled`"),
    _row("`passwordCredentials[].keyId`, `keyCredentials[].keyId`",
         "user.programmatic_credentials[].uid",
         "one per secret and certificate, of the service principal and its app registration", "facts"),
    _row("(kind), `keyCredentials[].type`", "user.programmatic_credentials[].type",
         "`Client secret`, else the key type (`AsymmetricX509Cert`, `Symmetric`, ...)", "facts"),
    *_rows("workload", "`servicePrincipalType`, else `status`", (
        ("`servicePrincipalType`", "service_principal_type", "Application, ManagedIdentity, Legacy, SocialIdp", "user"),
        ("`appId`", "app_id", "", "user"),
        ("`appOwnerOrganizationId`", "app_owner_organization_id", "the tenant the app is registered in", "user"),
        ("`appOwnerOrganizationId`, `servicePrincipalType`", "origin",
         "`first_party` (Microsoft's tenants f8cdef31-…, 72f988bf-…), `this_tenant`, `third_party`, "
         "`managed_identity`; absent when Graph gives no owner tenant", "user"),
        ("`preferredSingleSignOnMode`", "sso_mode", "saml, oidc, password, notSupported; absent = none", "user"),
        ("`signInAudience`", "sign_in_audience", "", "user"),
        ("`appDisplayName`", "app_name", "", "user"),
        ("`accountEnabled`", "is_enabled", "", "user"),
        ("`appRoleAssignmentRequired`", "assignment_required", "", "user"),
        ("`createdDateTime`", "created_time", "epoch ms", "user"),
        ("servicePrincipalSignInActivities `lastSignInActivity`", "last_sign_in_time",
         "epoch ms; /beta report, P1/P2 and AuditLog.Read.All", "facts"),
        ("(deletion: delta `@removed`, gone from the listing)", "is_deleted", "", "facts"),
        ("(deletion)", "deletion", "as for people: `soft` (restorable 30 days) or `hard`", "facts"),
        ("`deletedDateTime`", "deleted_time", "epoch ms; when learnt if Graph gives none", "facts"),
        ("`owners`", "owner_count", "owners of the service principal and its app registration", "facts"),
        ("`appRoleAssignedTo`", "roster_size", "users + groups assigned", "facts"),
    )),
    *_rows("credentials", "`<count> credentials`", (
        ("(credentials)", "count", "secrets and certificates", "facts"),
        ("`endDateTime`", "expired", "how many ended before the collection time", "facts"),
        ("`endDateTime`", "next_end_time", "epoch ms of the first credential to expire, not yet expired", "facts"),
        ("`keyId`", "items[].uid", "joins `user.programmatic_credentials[].uid`", "facts"),
        ("(kind)", "items[].kind", "`password` (client secret) or `certificate`", "facts"),
        ("`type`", "items[].type", "as `user.programmatic_credentials[].type`", "facts"),
        ("(where)", "items[].source", "`application` (the app registration) or `service_principal`", "facts"),
        ("`displayName`", "items[].name", "", "facts"),
        ("`usage`", "items[].usage", "Verify, Sign", "facts"),
        ("`startDateTime`", "items[].start_time", "epoch ms", "facts"),
        ("`endDateTime`", "items[].end_time", "epoch ms", "facts"),
        ("`endDateTime`", "items[].is_expired", "ended at collection time", "facts"),
    )),
    *_rows("app_permissions", "`<count> application permissions`", (
        ("`appRoleAssignments`", "count", "application permissions held", "facts"),
        ("(HIGH_IMPACT_PERMISSIONS)", "high_impact", "the high-impact ones held, by name", "facts"),
        ("`resourceDisplayName`", "items[].resource", "e.g. Microsoft Graph", "facts"),
        ("`resourceId`", "items[].resource_uid", "the resource service principal's id", "facts"),
        ("resource's `appRoles[].value` by `appRoleId`", "items[].permission", "e.g. `Mail.ReadWrite`", "facts"),
        ("`appRoleId`", "items[].app_role_uid", "", "facts"),
        ("(HIGH_IMPACT_PERMISSIONS)", "items[].is_high_impact", "see below", "facts"),
    )),
    *_rows("delegated_consents", "`<count> consents`", (
        ("`oauth2PermissionGrants` (clientId = this)", "count", "resources with a grant", "facts"),
        ("`consentType`", "is_tenant_wide", "some grant is `AllPrincipals` (admin consent for everyone)", "facts"),
        ("`consentType` `Principal`", "users", "users with their own grant, summed over resources", "facts"),
        ("(HIGH_IMPACT_PERMISSIONS)", "high_impact", "high-impact scopes granted", "facts"),
        ("`resourceId`", "items[].resource_uid", "", "facts"),
        ("resource's `displayName`", "items[].resource", "", "facts"),
        ("`scope`", "items[].scopes", "space-separated scopes, merged over the resource's grants", "facts"),
        ("`consentType`", "items[].is_tenant_wide", "", "facts"),
        ("`principalId`", "items[].users", "how many users consented for themselves", "facts"),
        ("(HIGH_IMPACT_PERMISSIONS)", "items[].high_impact", "", "facts"),
    )),
    *_rows("owners", "`<count> owners`", (
        ("`owners`", "count", "user owners of the service principal and its app registration", "facts"),
        ("`owners[].id`", "items[].uid", "the user inventory's `user.uid`", "facts"),
        ("`owners[].displayName`", "items[].name", "", "facts"),
        ("`owners[].userPrincipalName`", "items[].account_name", "the user inventory's `user.account.name`", "facts"),
    )),
    *_rows("sso", "`preferredSingleSignOnMode`, else `roster`", (
        ("`appRoleAssignedTo`", "roster_size", "users + groups assigned", "facts"),
        ("`appRoleAssignedTo` (principalType User)", "users", "", "facts"),
        ("`appRoleAssignedTo` (principalType Group)", "groups", "", "facts"),
        ("`preferredSingleSignOnMode`", "mode", "", "user"),
    )),
)

#: servicePrincipal properties the mapping reads (the listing's `$select`, with `appRoles` to
#: resolve permission names).
GRAPH_SERVICE_PRINCIPAL_FIELDS: Final[tuple[str, ...]] = (
    "id", "appId", "displayName", "appDisplayName", "accountEnabled", "servicePrincipalType",
    "appOwnerOrganizationId", "preferredSingleSignOnMode", "signInAudience",
    "appRoleAssignmentRequired", "createdDateTime", "passwordCredentials", "keyCredentials",
    "appRoles",
)

EXAMPLE_COLLECTED_AT_MS: Final = 1_767_225_600_000  # 2026-01-01T00:00:00Z
EXAMPLE_TENANT_ID: Final = "00000000-0000-4000-8000-0000000000aa"
EXAMPLE_PRODUCT: Final = Product(name="Entra ID user inventory", vendor_name="Microsoft",
                                 version="0.1.0")


def example_service_principal() -> dict[str, Any]:
    return {
        "id": "5b0e6a4c-0000-4000-8000-00000000a001", "appId": "c1a2b3c4-0000-4000-8000-00000000a002",
        "displayName": "Payroll Export", "appDisplayName": "Payroll Export", "accountEnabled": True,
        "servicePrincipalType": "Application", "appOwnerOrganizationId": EXAMPLE_TENANT_ID,
        "preferredSingleSignOnMode": "saml", "signInAudience": "AzureADMyOrg",
        "appRoleAssignmentRequired": True, "createdDateTime": "2024-02-01T09:00:00Z",
        "passwordCredentials": [], "keyCredentials": [{
            "keyId": "0c0c0c0c-0000-4000-8000-00000000c003", "type": "AsymmetricX509Cert",
            "usage": "Verify", "displayName": "CN=SAML signing", "startDateTime": "2025-02-01T00:00:00Z",
            "endDateTime": "2028-02-01T00:00:00Z"}],
    }


def _example_facts() -> WorkloadFacts:
    app = {"passwordCredentials": [{"keyId": "0d0d0d0d-0000-4000-8000-00000000d004",
                                    "displayName": "nightly job", "startDateTime": "2024-02-01T09:00:00Z",
                                    "endDateTime": "2026-01-20T09:00:00Z"}]}
    return WorkloadFacts(
        credentials=credentials_of(example_service_principal(), "service_principal")
        + credentials_of(app, "application"),
        app_permissions=(AppPermission("7e7e7e7e-0000-4000-8000-00000000e005", "Microsoft Graph",
                                       "Mail.ReadWrite", "e2a3a72e-5f79-4c64-b1b1-878b674786c9"),),
        consents=(Consent("7e7e7e7e-0000-4000-8000-00000000e005", "Microsoft Graph",
                          ("User.Read", "Files.ReadWrite.All"), all_users=False, users=12),),
        owners=(Owner("3f1c2d4e-1111-4222-8333-444455556666", "Jane Doe", "jane.doe@contoso.com"),),
        roster=Roster(users=40, groups=2), last_sign_in="2025-12-31T22:00:00Z")


_DOC_RULES = """\
Every service principal of the tenant (the `workload_identities` stream) becomes one **User
Inventory Info: Collect** event describing a non-human account: `user.type_id` 4 (Service),
`user.uid` the object id, `user.uid_alt` the appId. Enrichments with stable names carry what
OCSF 1.8.0 has no field for; an enrichment is absent when its source was not collected (a
missing permission or licence), and present with zero when collected and empty.

**Why 5003 and not Cloud Resources Inventory Info (5023).** A service principal signs in, holds
credentials and is granted permissions: it is an account. 5003's `user` has the native fields
this needs (`type_id` Service, `programmatic_credentials`, `account`), and a SIEM's identity
queries (`class_uid = 5003 and user.uid = <servicePrincipalId of a sign-in>`) find it next to
the people. In 5023 the same app would be `resources[] = {"type": "servicePrincipal", "uid":
..., "data": {...}}`: credentials, owners and permissions all inside free-form `data`, no
`type_id`, and no join with `actor.user.uid` of the authentication and audit events.

**High-impact permissions** (`is_high_impact`, `high_impact`): an application permission or a
delegated scope is flagged when it can read every mailbox or file (Mail.Read, Mail.ReadWrite,
Mail.Send, MailboxSettings.ReadWrite, full_access_as_app, EWS.AccessAsUser.All, Files.*.All,
Sites.*.All), write the directory (Directory.ReadWrite.All, Directory.AccessAsUser.All,
User/Group/GroupMember.ReadWrite.All, Domain.ReadWrite.All), or raise privilege
(RoleManagement.ReadWrite.Directory, AppRoleAssignment.ReadWrite.All, Application.ReadWrite.All:
each can make its holder Global Administrator or add a credential to an app that is;
UserAuthenticationMethod.ReadWrite.All and Policy.ReadWrite.ConditionalAccess remove sign-in
protections). These are the permissions Microsoft's and CISA's app-consent guidance single out
as tier 0 or "high risk"; the list is `HIGH_IMPACT_PERMISSIONS`.
"""


def render_mapping_section() -> str:
    """The workload identities section of docs/mapping.md."""
    example = to_event(example_service_principal(), _example_facts(),
                       collected_at_ms=EXAMPLE_COLLECTED_AT_MS, tenant_id=EXAMPLE_TENANT_ID,
                       product=EXAMPLE_PRODUCT)
    return "\n".join([
        "# Graph -> OCSF 1.8.0 mapping (workload identities: User Inventory Info, class 5003)",
        "",
        _DOC_RULES,
        "| Graph source | OCSF path | Rule |",
        "| --- | --- | --- |",
        *(f"| {cell(r.source)} | `{r.path}` | {cell(r.rule or 'as reported')} |" for r in MAPPING),
        "",
        "Service principal properties read (`$select` of `/servicePrincipals`): "
        + ", ".join(f"`{name}`" for name in GRAPH_SERVICE_PRINCIPAL_FIELDS) + ".",
        "",
        "## Example",
        "",
        "Service principal:",
        "",
        *json_block(example_service_principal()),
        "Its app registration holds one client secret; it holds Microsoft Graph Mail.ReadWrite, 12 "
        "users consented to two scopes, Jane Doe owns it, 40 users and 2 groups are assigned. "
        "Collected at 2026-01-01T00:00:00Z.",
        "",
        "Event:",
        "",
        *json_block(example),
    ])
