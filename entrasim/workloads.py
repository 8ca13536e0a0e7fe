"""Workload identities of the simulated tenant: applications, service principals, their secrets
and certificates, application permissions (app role assignments), delegated consents
(oauth2PermissionGrants), owners and SSO rosters; ground truth and mutations.

Generated on first use (`Tenant.workloads`, like devices), so a test that never reads them pays
nothing. `TenantSpec.service_principals` sets the count (None: users / 20, at least 24), drawn
with realistic variety: Microsoft first-party apps without credentials (owner tenant
f8cdef31-…), the resource APIs (Microsoft Graph, Exchange Online, SharePoint) with their app
roles, line-of-business apps registered in this tenant with client secrets and certificates
(some expired, some expiring within 30 or 90 days, some without owners, some over-privileged
with Mail.ReadWrite / Directory.ReadWrite.All / RoleManagement.ReadWrite.Directory), managed
identities, legacy service principals, third-party SAML and OIDC apps with rosters of users and
groups, tenant-wide (AllPrincipals) and per-user (Principal) consents. The connector's own app
is a service principal too, holding `spec.permissions` as application permissions.

Ids of Microsoft's apps and app roles are derived here, not Microsoft's real ones.

Change tracking: mutations bump the tenant's sequence and append to `sp_log` / `app_log`, which
`/servicePrincipals/delta` and `/applications/delta` serve (`entrasim.workload_api`). Relations
(app role assignments, roster, consents, owners) are not properties: as in Graph, they do not
bring the object back in delta; the directory audit log records them (category
ApplicationManagement, with the service principal as a target), as Entra does.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal

from entrasim.audit import Modified, Target
from entrasim.changelog import ChangeLog

if TYPE_CHECKING:
    from entrasim.tenant import Group, Tenant, User

MICROSOFT_TENANT = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
_NS = uuid.UUID("0a11ce00-0000-4000-8000-00000000a0b1")

#: Resource APIs and the application permissions (app role values) each offers.
RESOURCES: dict[str, tuple[str, tuple[str, ...]]] = {
    GRAPH_APP_ID: ("Microsoft Graph", (
        "User.Read.All", "User.ReadWrite.All", "Group.Read.All", "Group.ReadWrite.All",
        "GroupMember.Read.All", "Directory.Read.All", "Directory.ReadWrite.All",
        "RoleManagement.Read.Directory", "RoleManagement.ReadWrite.Directory", "AuditLog.Read.All",
        "Application.Read.All", "Application.ReadWrite.All", "AppRoleAssignment.ReadWrite.All",
        "Mail.Read", "Mail.ReadWrite", "Mail.Send", "Files.Read.All", "Files.ReadWrite.All",
        "Sites.Read.All", "Calendars.Read", "UserAuthenticationMethod.Read.All",
        "IdentityRiskyUser.Read.All", "Device.Read.All", "DeviceManagementManagedDevices.Read.All",
        "Organization.Read.All")),
    "00000002-0000-0ff1-ce00-000000000000": ("Office 365 Exchange Online", (
        "full_access_as_app", "Mail.Read", "Exchange.ManageAsApp")),
    "00000003-0000-0ff1-ce00-000000000000": ("Office 365 SharePoint Online", (
        "Sites.FullControl.All", "Sites.Read.All")),
}
FIRST_PARTY = ("Microsoft Teams", "Office 365 Management APIs", "Azure Portal", "Microsoft Intune",
               "Microsoft Azure CLI", "Azure DevOps", "Power BI Service", "Microsoft Forms",
               "Microsoft Stream Portal", "Windows Azure Service Management API", "Yammer",
               "Microsoft Defender for Cloud Apps", "Office 365 Search Service", "Skype for Business Online")
LOB = ("HR Sync", "Expense Portal", "Build Agent", "Payroll Export", "CRM Connector", "Backup Runner",
       "Ticket Bridge", "Data Lake Loader", "Onboarding Bot", "Report Mailer", "License Manager",
       "Wiki Importer")
SAAS = ("Salesforce", "ServiceNow", "Workday", "Zoom", "Slack", "Atlassian Cloud", "Box", "DocuSign",
        "GitHub Enterprise", "Dropbox Business", "Miro", "Adobe Creative Cloud", "Zendesk", "Tableau")
MI = ("vm-build-01", "func-invoice", "aks-prod-pool", "logic-ingest", "app-portal", "adf-nightly")
#: Entra's activity name (with its en dash and trailing space) for a secret or certificate change.
CREDENTIALS_ACTIVITY = "Update application \u2013 Certificates and secrets management "
DELEGATED = ("openid", "profile", "email", "offline_access", "User.Read", "User.ReadBasic.All",
             "Mail.Read", "Mail.ReadWrite", "Calendars.ReadWrite", "Files.ReadWrite.All", "Sites.Read.All")

Kind = Literal["first_party", "resource", "lob", "managed_identity", "legacy", "saas", "connector"]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _id(*parts: object) -> str:
    return str(uuid.uuid5(_NS, ":".join(map(str, parts))))


@dataclass(slots=True)
class Credential:
    key_id: str
    kind: Literal["password", "certificate"]
    display: str
    start: str
    end: str
    key_type: str | None = None  # AsymmetricX509Cert for certificates
    usage: str | None = None

    def json(self) -> dict[str, object]:
        if self.kind == "password":
            return {"customKeyIdentifier": None, "displayName": self.display, "endDateTime": self.end,
                    "hint": self.key_id[:3], "keyId": self.key_id, "secretText": None,
                    "startDateTime": self.start}
        return {"customKeyIdentifier": self.key_id.replace("-", "")[:40].upper(),
                "displayName": self.display, "endDateTime": self.end, "key": None, "keyId": self.key_id,
                "startDateTime": self.start, "type": self.key_type, "usage": self.usage}


class App:
    """An app registration (`/applications`): its secrets and certificates, its owners."""

    __slots__ = ("app_id", "audience", "created", "credentials", "deleted", "id", "name", "owners",
                 "version")

    def __init__(self, id: str, app_id: str, name: str, created: str, audience: str) -> None:
        self.id, self.app_id, self.name, self.created, self.audience = id, app_id, name, created, audience
        self.credentials: list[Credential] = []
        self.owners: list[User] = []
        self.deleted: str | None = None
        self.version = 0


class SP:
    """A service principal (`/servicePrincipals`)."""

    __slots__ = ("app", "app_id", "app_roles", "assignment_required", "created", "credentials", "deleted",
                 "enabled", "id", "kind", "last_sign_in", "name", "owner_org", "owners", "sp_type",
                 "sso", "version")

    def __init__(self, id: str, app_id: str, name: str, kind: Kind, sp_type: str, owner_org: str | None,
                 created: str) -> None:
        self.id, self.app_id, self.name, self.kind, self.sp_type = id, app_id, name, kind, sp_type
        self.owner_org, self.created = owner_org, created
        self.app: App | None = None
        self.app_roles: dict[str, str] = {}  # app role id -> value (resources only)
        self.credentials: list[Credential] = []  # the SP's own (SAML signing, managed identity)
        self.owners: list[User] = []
        self.sso: str | None = None  # preferredSingleSignOnMode: saml | oidc | password
        self.enabled = True
        self.assignment_required = False
        self.deleted: str | None = None
        self.last_sign_in: str | None = None
        self.version = 0


@dataclass(slots=True)
class Assignment:
    """An appRoleAssignment: `principal` (user, group or client SP) holds `role_id` of `resource`."""

    id: str
    principal: User | Group | SP
    resource: SP
    role_id: str
    created: str


@dataclass(slots=True)
class Grant:
    """An oauth2PermissionGrant: delegated `scope` of `resource` granted to `client`."""

    id: str
    client: SP
    resource: SP
    consent_type: Literal["AllPrincipals", "Principal"]
    principal: User | None
    scope: str


@dataclass(frozen=True, slots=True)
class ExpectedWorkload:
    """What a correct connector reports for one service principal."""

    id: str
    app_id: str
    name: str
    sp_type: str
    origin: str | None  # first_party | this_tenant | third_party | managed_identity | None
    enabled: bool
    sso_mode: str | None
    credentials: dict[str, tuple[str, str, str]]  # keyId -> (kind, start, end), app's and SP's
    app_permissions: frozenset[tuple[str, str]]  # (resource display name, permission value)
    consent_scopes: frozenset[tuple[str, str]]  # (resource display name, scope)
    tenant_wide: bool
    consent_users: int
    owners: frozenset[str]  # user ids
    roster_users: int
    roster_groups: int
    last_sign_in: str | None
    deleted: bool


class WorkloadDirectory:
    """The tenant's applications and service principals; mutations hold the tenant lock."""

    def __init__(self, tenant: Tenant, count: int | None) -> None:
        self.tenant = tenant
        self.sps: dict[str, SP] = {}
        self.apps: dict[str, App] = {}
        self.by_principal: dict[str, list[Assignment]] = {}
        self.by_resource: dict[str, list[Assignment]] = {}
        self.grants_by_client: dict[str, list[Grant]] = {}
        self.sp_log = ChangeLog()
        self.app_log = ChangeLog()
        self._sorted_sps: list[SP] | None = None
        spec = tenant.spec
        self.count = max(24, spec.users // 20) if count is None else count
        _Generator(self, random.Random(f"workloads:{spec.seed}")).run()

    # ---- lookups --------------------------------------------------------------------------
    def service_principals(self) -> list[SP]:
        """Live service principals in listing order (by id)."""
        if self._sorted_sps is None:
            self._sorted_sps = sorted((s for s in self.sps.values() if s.deleted is None), key=lambda s: s.id)
        return self._sorted_sps

    def applications(self) -> list[App]:
        return sorted((a for a in self.apps.values() if a.deleted is None), key=lambda a: a.id)

    def sp(self, key: str) -> SP | None:
        found = self.sps.get(key)
        if found is None:
            found = next((s for s in self.sps.values() if s.app_id == key), None)
        return found if found is not None and found.deleted is None else None

    def app(self, key: str) -> App | None:
        found = self.apps.get(key)
        return found if found is not None and found.deleted is None else None

    def add_assignment(self, a: Assignment) -> None:
        self.by_principal.setdefault(a.principal.id, []).append(a)
        self.by_resource.setdefault(a.resource.id, []).append(a)

    def remove_assignment(self, a: Assignment) -> None:
        self.by_principal[a.principal.id].remove(a)
        self.by_resource[a.resource.id].remove(a)

    def add_grant(self, g: Grant) -> None:
        self.grants_by_client.setdefault(g.client.id, []).append(g)

    def held(self, sp: SP) -> list[Assignment]:
        """Application permissions the service principal holds (its appRoleAssignments)."""
        return [a for a in self.by_principal.get(sp.id, ()) if a.resource.deleted is None]

    def assigned_to(self, sp: SP) -> list[Assignment]:
        """Everything assigned an app role of this service principal (appRoleAssignedTo)."""
        return [a for a in self.by_resource.get(sp.id, ()) if _live(a.principal)]

    def grants_of(self, sp: SP) -> list[Grant]:
        return [g for g in self.grants_by_client.get(sp.id, ())
                if g.principal is None or g.principal.deleted is None]

    def live_grants(self) -> list[Grant]:
        return [g for sp in self.service_principals() for g in self.grants_of(sp)]

    def live_owners(self, owners: list[User]) -> list[User]:
        return [u for u in owners if u.deleted is None]

    def origin(self, sp: SP) -> str | None:
        """None when Graph names no owner tenant (legacy service principals)."""
        if sp.sp_type == "ManagedIdentity":
            return "managed_identity"
        if sp.owner_org is None:
            return None
        if sp.owner_org == MICROSOFT_TENANT:
            return "first_party"
        return "this_tenant" if sp.owner_org == self.tenant.spec.tenant_id else "third_party"

    def apps_by_role(self) -> dict[tuple[str, str], str]:
        return {(r.id, role_id): value for r in self.sps.values() for role_id, value in r.app_roles.items()}

    # ---- ground truth -----------------------------------------------------------------------
    def expected(self, sp: SP) -> ExpectedWorkload:
        creds: dict[str, tuple[str, str, str]] = {c.key_id: (c.kind, c.start, c.end) for c in sp.credentials}
        if sp.app is not None and sp.app.deleted is None:
            creds.update({c.key_id: (c.kind, c.start, c.end) for c in sp.app.credentials})
        perms = frozenset((a.resource.name, a.resource.app_roles.get(a.role_id, "")) for a in self.held(sp))
        grants = self.grants_of(sp)
        scopes = frozenset((g.resource.name, s) for g in grants for s in g.scope.split())
        owners = {u.id for u in self.live_owners(sp.owners)}
        if sp.app is not None:
            owners |= {u.id for u in self.live_owners(sp.app.owners)}
        roster = [a for a in self.assigned_to(sp) if not isinstance(a.principal, SP)]
        from entrasim.tenant import Group, User

        return ExpectedWorkload(
            sp.id, sp.app_id, sp.name, sp.sp_type, self.origin(sp), sp.enabled, sp.sso, creds, perms, scopes,
            any(g.consent_type == "AllPrincipals" for g in grants),
            sum(1 for g in grants if g.consent_type == "Principal"), frozenset(owners),
            sum(1 for a in roster if isinstance(a.principal, User)),
            sum(1 for a in roster if isinstance(a.principal, Group)), sp.last_sign_in, sp.deleted is not None)

    def truth(self, *, include_deleted: bool = False) -> dict[str, ExpectedWorkload]:
        with self.tenant.lock:
            return {s.id: self.expected(s) for s in self.sps.values()
                    if include_deleted or s.deleted is None}

    def sso_apps_of(self, user: User) -> frozenset[str]:
        """Service principal ids the user is assigned to, directly or through a group."""
        ids = [user.id, *(g.id for g in user.groups)]
        return frozenset(a.resource.id for key in ids for a in self.by_principal.get(key, ())
                         if a.resource.deleted is None)

    # ---- mutations ----------------------------------------------------------------------------
    def _touch_sp(self, sp: SP, props: frozenset[str]) -> None:
        sp.version = self.tenant._bump()
        self.sp_log.record(sp.version, sp.id, props)
        self._sorted_sps = None

    def _touch_app(self, app: App, props: frozenset[str]) -> None:
        app.version = self.tenant._bump()
        self.app_log.record(app.version, app.id, props)

    def _audit(self, activity: str, operation: str, sp: SP | None, *, also: tuple[Target, ...] = (),
               modified: tuple[Modified, ...] = (), app: App | None = None) -> None:
        targets = also
        if sp is not None:
            targets = (Target(sp.id, "ServicePrincipal", sp.name, None, modified), *targets)
        if app is not None:
            targets = (Target(app.id, "Application", app.name, None, modified), *targets)
        self.tenant._audit(activity, "ApplicationManagement", operation, None, also=targets)

    def _require(self, sp_id: str) -> SP:
        found = self.sp(sp_id)
        if found is None:
            raise KeyError(f"no live service principal {sp_id}")
        return found

    def add_credential(self, sp_id: str, kind: Literal["password", "certificate"] = "password", *,
                       days: int = 180, on_app: bool = True) -> str:
        """A new secret or certificate on the app registration (or the SP itself); returns keyId."""
        with self.tenant.lock:
            sp = self._require(sp_id)
            now = datetime.now(UTC)
            cred = Credential(str(uuid.uuid4()), kind, "added " + kind, _iso(now), _iso(now + timedelta(days=days)),
                              "AsymmetricX509Cert" if kind == "certificate" else None,
                              "Verify" if kind == "certificate" else None)
            prop = "passwordCredentials" if kind == "password" else "keyCredentials"
            if on_app and sp.app is not None:
                sp.app.credentials.append(cred)
                self._touch_app(sp.app, frozenset({prop}))
                self._audit(CREDENTIALS_ACTIVITY, "Update", None,
                            app=sp.app, modified=(Modified("KeyDescription", None, [cred.key_id]),))
            else:
                sp.credentials.append(cred)
                self._touch_sp(sp, frozenset({prop}))
                self._audit("Update service principal", "Update", sp)
            return cred.key_id

    def remove_credential(self, sp_id: str, key_id: str) -> None:
        with self.tenant.lock:
            sp = self._require(sp_id)
            for holder in (sp.app, sp):
                if holder is None:
                    continue
                found = next((c for c in holder.credentials if c.key_id == key_id), None)
                if found is None:
                    continue
                holder.credentials.remove(found)
                prop = frozenset({"passwordCredentials" if found.kind == "password" else "keyCredentials"})
                if isinstance(holder, App):
                    self._touch_app(holder, prop)
                    self._audit(CREDENTIALS_ACTIVITY, "Update", None,
                                app=holder)
                else:
                    self._touch_sp(holder, prop)
                    self._audit("Update service principal", "Update", holder)
                return
            raise KeyError(key_id)

    def grant_permission(self, sp_id: str, permission: str, resource_app_id: str = GRAPH_APP_ID) -> str:
        """Grant an application permission (an app role of the resource) to the service principal."""
        with self.tenant.lock:
            sp, resource = self._require(sp_id), self._require(resource_app_id)
            role_id = next(k for k, v in resource.app_roles.items() if v == permission)
            a = Assignment(str(uuid.uuid4()), sp, resource, role_id, _iso(datetime.now(UTC)))
            self.add_assignment(a)
            self.tenant._bump()
            self._audit("Add app role assignment to service principal", "Assign", resource, modified=(
                Modified("AppRole.Value", None, permission), Modified("ServicePrincipal.ObjectID", None, sp.id),
                Modified("ServicePrincipal.DisplayName", None, sp.name)))
            return a.id

    def revoke_permission(self, sp_id: str, permission: str) -> None:
        with self.tenant.lock:
            sp = self._require(sp_id)
            a = next(a for a in self.held(sp) if a.resource.app_roles.get(a.role_id) == permission)
            self.remove_assignment(a)
            self.tenant._bump()
            self._audit("Remove app role assignment from service principal", "Unassign", a.resource, modified=(
                Modified("AppRole.Value", permission, None), Modified("ServicePrincipal.ObjectID", sp.id, None)))

    def consent(self, sp_id: str, scopes: str, *, user_id: str | None = None,
                resource_app_id: str = GRAPH_APP_ID) -> str:
        """A delegated grant: tenant-wide (admin consent) or for one user (`user_id`)."""
        with self.tenant.lock:
            sp, resource = self._require(sp_id), self._require(resource_app_id)
            user = self.tenant._require(user_id) if user_id is not None else None
            g = Grant(str(uuid.uuid4()), sp, resource, "Principal" if user else "AllPrincipals", user, scopes)
            self.add_grant(g)
            self.tenant._bump()
            self._audit("Consent to application", "Assign", sp, modified=(
                Modified("ConsentContext.IsAdminConsent", None, str(user is None)),
                Modified("ConsentAction.Permissions", None, scopes)))
            return g.id

    def revoke_consent(self, grant_id: str) -> None:
        with self.tenant.lock:
            g = next(g for gs in self.grants_by_client.values() for g in gs if g.id == grant_id)
            self.grants_by_client[g.client.id].remove(g)
            self.tenant._bump()
            self._audit("Remove delegated permission grant", "Unassign", g.client)

    def assign(self, sp_id: str, principal_id: str) -> str:
        """Put a user or group on the application's SSO roster."""
        with self.tenant.lock:
            sp = self._require(sp_id)
            principal: User | Group | None = self.tenant.user(principal_id) or self.tenant.group(principal_id)
            if principal is None:
                raise KeyError(principal_id)
            role = next(iter(sp.app_roles), "00000000-0000-0000-0000-000000000000")
            a = Assignment(str(uuid.uuid4()), principal, sp, role, _iso(datetime.now(UTC)))
            self.add_assignment(a)
            self.tenant._bump()
            user = self.tenant.user(principal_id)
            kind = "user" if user is not None else "group"
            self._audit(f"Add app role assignment grant to {kind}", "Assign", sp, also=(
                Target(principal.id, kind.capitalize(), getattr(principal, "display", None)
                       or getattr(principal, "name", None), getattr(principal, "upn", None)),))
            return a.id

    def unassign(self, sp_id: str, principal_id: str) -> None:
        with self.tenant.lock:
            sp = self._require(sp_id)
            a = next(a for a in self.by_resource.get(sp.id, ()) if a.principal.id == principal_id)
            self.remove_assignment(a)
            self.tenant._bump()
            kind = "user" if self.tenant.user(principal_id) is not None else "group"
            self._audit(f"Remove app role assignment from {kind}", "Unassign", sp, also=(
                Target(principal_id, kind.capitalize(), None),))

    def add_owner(self, sp_id: str, user_id: str, *, on_app: bool = False) -> None:
        with self.tenant.lock:
            sp, user = self._require(sp_id), self.tenant._require(user_id)
            if on_app and sp.app is not None:
                sp.app.owners.append(user)
                self.tenant._bump()
                self._audit("Add owner to application", "Assign", None, app=sp.app,
                            also=(Target(user.id, "User", user.display, user.upn),))
            else:
                sp.owners.append(user)
                self.tenant._bump()
                self._audit("Add owner to service principal", "Assign", sp,
                            also=(Target(user.id, "User", user.display, user.upn),))

    def remove_owner(self, sp_id: str, user_id: str) -> None:
        with self.tenant.lock:
            sp = self._require(sp_id)
            for holder, activity in ((sp, "Remove owner from service principal"),
                                     (sp.app, "Remove owner from application")):
                if holder is None:
                    continue
                found = next((u for u in holder.owners if u.id == user_id), None)
                if found is not None:
                    holder.owners.remove(found)
                    self.tenant._bump()
                    self._audit(activity, "Unassign", sp if holder is sp else None,
                                app=holder if isinstance(holder, App) else None,
                                also=(Target(found.id, "User", found.display, found.upn),))
                    return
            raise KeyError(user_id)

    def set_enabled(self, sp_id: str, enabled: bool) -> None:
        with self.tenant.lock:
            sp = self._require(sp_id)
            sp.enabled = enabled
            self._touch_sp(sp, frozenset({"accountEnabled"}))
            self._audit("Update service principal", "Update", sp, modified=(
                Modified("AccountEnabled", [not enabled], [enabled]),))

    def disable(self, sp_id: str) -> None:
        self.set_enabled(sp_id, False)

    def delete(self, sp_id: str) -> None:
        """Delete the service principal (its assignments and grants go with it)."""
        with self.tenant.lock:
            sp = self._require(sp_id)
            sp.deleted = _iso(datetime.now(UTC))
            for a in [*self.by_principal.get(sp.id, ()), *self.by_resource.get(sp.id, ())]:
                self.remove_assignment(a)
            self.grants_by_client.pop(sp.id, None)
            self._touch_sp(sp, frozenset({"*"}))
            self._audit("Remove service principal", "Delete", sp)

    def add_service_principal(self, name: str, *, with_secret_days: int | None = 365) -> str:
        """A new line-of-business app registration and its service principal."""
        with self.tenant.lock:
            n = len(self.sps)
            now = datetime.now(UTC)
            sp = _Generator(self, random.Random(n)).lob(name, n, now)
            if with_secret_days is not None and sp.app is not None:
                sp.app.credentials = [Credential(str(uuid.uuid4()), "password", "initial", _iso(now),
                                                 _iso(now + timedelta(days=with_secret_days)))]
            self._touch_sp(sp, frozenset({"*"}))
            if sp.app is not None:
                self._touch_app(sp.app, frozenset({"*"}))
            self._audit("Add service principal", "Add", sp)
            return sp.id

    def set_last_sign_in(self, sp_id: str, when: datetime) -> None:
        with self.tenant.lock:
            self._require(sp_id).last_sign_in = _iso(when)


def _live(principal: object) -> bool:
    return getattr(principal, "deleted", None) is None


class _Generator:
    def __init__(self, d: WorkloadDirectory, rng: random.Random) -> None:
        self.d, self.rng = d, rng
        self.spec = d.tenant.spec
        self.as_of = self.spec.as_of

    def _sp(self, name: str, kind: Kind, sp_type: str, owner_org: str | None, n: int,
            app_id: str | None = None) -> SP:
        created = _iso(self.as_of - timedelta(days=30 + self.rng.randrange(1500)))
        sp = SP(_id(self.spec.seed, "sp", n, name), app_id or _id(self.spec.seed, "app", n, name), name, kind,
                sp_type, owner_org, created)
        self.d.sps[sp.id] = sp
        return sp

    def _cred(self, kind: Literal["password", "certificate"], end_days: float, n: int, i: int) -> Credential:
        end = self.as_of + timedelta(days=end_days)
        start = end - timedelta(days=365 if kind == "password" else 730)
        return Credential(_id(self.spec.seed, "cred", n, i), kind,
                          f"CN=app-{n}" if kind == "certificate" else f"secret {i}", _iso(start), _iso(end),
                          "AsymmetricX509Cert" if kind == "certificate" else None,
                          "Verify" if kind == "certificate" else None)

    def lob(self, name: str, n: int, now: datetime | None = None) -> SP:
        tenant_id = self.spec.tenant_id
        sp = self._sp(name, "lob", "Application", tenant_id, n)
        app = App(_id(self.spec.seed, "appobj", n, name), sp.app_id, name, sp.created, "AzureADMyOrg")
        sp.app = app
        self.d.apps[app.id] = app
        if now is None:
            # expired, expiring within 30 or 90 days, healthy; secrets and certificates
            for i in range(self.rng.choice((0, 1, 1, 1, 2, 2, 3))):
                end = self.rng.choice((-200, -20, 12, 25, 60, 85, 200, 500, 700))
                app.credentials.append(self._cred(self.rng.choice(("password", "password", "certificate")),
                                                  end + self.rng.random(), n, i))
            users = self.d.tenant._sorted
            if users and self.rng.random() < 0.75:
                app.owners = self.rng.sample(users, min(len(users), self.rng.randint(1, 2)))
                if self.rng.random() < 0.3:
                    sp.owners = [app.owners[0]]
        return sp

    def run(self) -> None:
        d, rng, spec = self.d, self.rng, self.spec
        n = 0
        for app_id, (name, roles) in RESOURCES.items():
            sp = self._sp(name, "resource", "Application", MICROSOFT_TENANT, n, app_id)
            sp.app_roles = {_id("role", app_id, r): r for r in roles}
            n += 1
        graph = d.sps[_id(spec.seed, "sp", 0, "Microsoft Graph")]
        connector = self._sp("OCSF connector", "connector", "Application", spec.tenant_id, n, spec.client_id)
        connector.app = self.connector_app()
        d.apps[connector.app.id] = connector.app
        n += 1
        for p in sorted(spec.permissions):
            role = next((k for k, v in graph.app_roles.items() if v == p), None)
            if role is not None:
                d.add_assignment(Assignment(_id("asg", connector.id, p), connector, graph, role, connector.created))
        for existing in d.tenant.service_principals:  # generated with role assignments
            sp = SP(existing.id, existing.app_id, existing.name, "lob", "Application", spec.tenant_id,
                    _iso(self.as_of - timedelta(days=400)))
            d.sps[sp.id] = sp
            n += 1
        users = [u for u in d.tenant._sorted if u.enabled]
        groups = d.tenant.groups_list
        total = max(d.count, n + 8)
        kinds: list[Kind] = ["first_party", "lob", "managed_identity", "saas", "saas", "legacy"]
        weights = (35, 28, 14, 10, 8, 5)
        i = 0
        while n < total:
            kind = kinds[i] if i < len(kinds) else rng.choices(kinds, weights)[0]
            i += 1
            if kind == "first_party":
                base = FIRST_PARTY[i % len(FIRST_PARTY)]
                self._sp(base if i < len(FIRST_PARTY) else f"{base} {i}", kind, "Application", MICROSOFT_TENANT, n)
            elif kind == "lob":
                base = LOB[i % len(LOB)]
                sp = self.lob(f"{base} {i}" if i >= len(LOB) else base, n)
                if rng.random() < 0.25:  # over-privileged
                    for p in rng.sample(("Mail.ReadWrite", "Directory.ReadWrite.All",
                                         "RoleManagement.ReadWrite.Directory", "Files.ReadWrite.All"), 2):
                        self._hold(sp, graph, p)
                for p in rng.sample(("User.Read.All", "Group.Read.All", "Calendars.Read", "Sites.Read.All"),
                                    rng.randint(0, 2)):
                    self._hold(sp, graph, p)
            elif kind == "managed_identity":
                sp = self._sp(f"{MI[i % len(MI)]}-{i}", kind, "ManagedIdentity", None, n)
                sp.credentials.append(self._cred("certificate", 40 + rng.randrange(50), n, 0))
                if rng.random() < 0.5:
                    self._hold(sp, graph, rng.choice(("User.Read.All", "Mail.Send", "Sites.Read.All")))
            elif kind == "saas":
                vendor = _id("vendor", SAAS[i % len(SAAS)])
                sp = self._sp(SAAS[i % len(SAAS)] + ("" if i < len(SAAS) else f" {i}"), kind, "Application",
                              vendor, n)
                sp.sso = rng.choice(("saml", "saml", "oidc", "password"))
                sp.assignment_required = sp.sso != "oidc"
                sp.app_roles = {_id("role", sp.id, "User"): "User"}
                if sp.sso == "saml":
                    sp.credentials.append(self._cred("certificate", rng.choice((-5, 20, 300, 900)), n, 0))
                    sp.credentials[-1].usage = "Sign"
                role = next(iter(sp.app_roles))
                for u in rng.sample(users, min(len(users), rng.randint(0, 60))):
                    d.add_assignment(Assignment(_id("asg", sp.id, u.id), u, sp, role, sp.created))
                for g in rng.sample(groups, min(len(groups), rng.randint(0, 3))):
                    d.add_assignment(Assignment(_id("asg", sp.id, g.id), g, sp, role, sp.created))
                if sp.sso == "oidc" or rng.random() < 0.3:
                    scope = " ".join(rng.sample(DELEGATED[:8], rng.randint(2, 5)))
                    d.add_grant(Grant(_id("grant", sp.id), sp, graph, "AllPrincipals", None, scope))
                for u in rng.sample(users, min(len(users), rng.choice((0, 0, 1, 4, 12)))):
                    d.add_grant(Grant(_id("grant", sp.id, u.id), sp, graph, "Principal", u,
                                          " ".join(rng.sample(DELEGATED, rng.randint(1, 3)))))
            else:
                self._sp(f"Legacy app {i}", "legacy", "Legacy", None, n)
            n += 1
        for sp in d.sps.values():
            if sp.kind in ("lob", "saas", "managed_identity", "connector") and rng.random() < 0.7:
                sp.last_sign_in = _iso(self.as_of - timedelta(seconds=rng.randrange(86400 * 90)))

    def connector_app(self) -> App:
        """The connector's own registration: the ids and dates `GraphApi._connector_app` serves."""
        spec = self.spec
        created = _iso(self.as_of.replace(year=self.as_of.year - 1))
        app = App(str(uuid.uuid5(uuid.NAMESPACE_URL, f"app:{spec.client_id}")), spec.client_id, "OCSF connector",
                  created, "AzureADMyOrg")
        end = spec.secret_end_datetime
        app.credentials.append(Credential(str(uuid.uuid5(uuid.NAMESPACE_URL, f"secret:{spec.client_id}")),
                                          "password", "connector secret", created, _iso(end) if end else ""))
        if spec.certificate_pem:
            from cryptography import x509

            cert = x509.load_pem_x509_certificate(spec.certificate_pem)
            cert_end = spec.certificate_end_datetime or cert.not_valid_after_utc
            app.credentials.append(Credential(str(uuid.uuid5(uuid.NAMESPACE_URL, f"cert:{spec.client_id}")),
                                              "certificate", cert.subject.rfc4514_string(),
                                              _iso(cert.not_valid_before_utc), _iso(cert_end),
                                              "AsymmetricX509Cert", "Verify"))
        return app

    def _hold(self, sp: SP, resource: SP, permission: str) -> None:
        role = next(k for k, v in resource.app_roles.items() if v == permission)
        self.d.add_assignment(Assignment(_id("asg", sp.id, permission), sp, resource, role, sp.created))


class LazyWorkloads:
    """`Tenant.workloads`: generated on first use, from the users and groups of the tenant."""

    def __get__(self, tenant: Tenant | None, owner: type | None = None) -> WorkloadDirectory:
        if tenant is None:
            raise AttributeError("workloads belong to a Tenant instance")
        found: WorkloadDirectory | None = tenant.__dict__.get("_workloads")
        if found is None:
            with tenant.lock:
                found = tenant.__dict__.get("_workloads")
                if found is None:
                    found = tenant.__dict__["_workloads"] = WorkloadDirectory(
                        tenant, getattr(tenant.spec, "service_principals", None))
        return found
