"""Which Graph application permissions unlock which part of the inventory.

Learning this from the token's `roles` claim up front lets a run skip a source it cannot read
instead of spending a request (and a warning) on a 403; a 403 still degrades the same way when
the token says nothing (not a JWT, or a role granted after the token was issued).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Feature:
    """One part of the inventory and the permissions, any one of which, grant it."""

    key: str
    any_of: tuple[str, ...]
    required: bool
    unlocks: str
    licence: str | None = None


FEATURES: tuple[Feature, ...] = (
    Feature("users", ("User.Read.All", "Directory.Read.All"), True,
            "list users and their profile attributes (every event)"),
    Feature("groups", ("GroupMember.Read.All", "Group.Read.All", "Directory.Read.All"), False,
            "group memberships (user.groups)"),
    Feature("roles", ("RoleManagement.Read.Directory", "RoleManagement.Read.All",
                      "Directory.Read.All"), False,
            "admin roles, including roles held through role-assignable groups (user.type_id Admin)"),
    Feature("last_sign_in", ("AuditLog.Read.All",), False,
            "last sign-in time (signInActivity)", licence="Entra ID P1 or P2"),
    Feature("mfa_report", ("AuditLog.Read.All",), False,
            "MFA registration in bulk (userRegistrationDetails report)", licence="Entra ID P1 or P2"),
    Feature("mfa_methods", ("UserAuthenticationMethod.Read.All",
                            "UserAuthenticationMethod.ReadWrite.All"), False,
            "MFA methods per user: disabled users, tenants without P1/P2, small incremental runs"),
    Feature("risk", ("IdentityRiskyUser.Read.All", "IdentityRiskyUser.ReadWrite.All"), False,
            "user risk level from Identity Protection (riskyUsers)", licence="Entra ID P2"),
    Feature("sign_ins", ("AuditLog.Read.All", "Directory.Read.All"), False,
            "sign-in logs as Authentication events (the sign-in stream)",
            licence="Entra ID P1 or P2"),
    Feature("devices", ("Device.Read.All", "Directory.Read.All"), False,
            "Entra ID devices, their owners and registered users (the device stream)"),
    Feature("intune_devices", ("DeviceManagementManagedDevices.Read.All",
                               "DeviceManagementManagedDevices.ReadWrite.All"), False,
            "Intune compliance, ownership, serial number, IMEI, last sync (device stream)",
            licence="Microsoft Intune"),
    Feature("device_owner_changes", ("AuditLog.Read.All", "Directory.Read.All"), False,
            "device owner and registered-user changes from the directory audit log, between "
            "the device stream's owner re-reads"),
    Feature("directory_audits", ("AuditLog.Read.All",), False,
            "the directory audit log as account, group and privilege change events (the "
            "directory audit stream); any licence"),
    Feature("workload_identities", ("Application.Read.All", "Application.ReadWrite.All",
                                    "Directory.Read.All", "Directory.ReadWrite.All"), False,
            "service principals, their credentials, permissions, owners and SSO rosters "
            "(the workload identities stream)"),
    Feature("workload_consents", ("Directory.Read.All", "Directory.ReadWrite.All",
                                  "DelegatedPermissionGrant.ReadWrite.All"), False,
            "delegated consents to applications (oauth2PermissionGrants)"),
    Feature("workload_sign_ins", ("AuditLog.Read.All", "Directory.Read.All"), False,
            "last sign-in of each service principal (/beta sign-in activity report)",
            licence="Entra ID P1 or P2"),
)
BY_KEY: dict[str, Feature] = {feature.key: feature for feature in FEATURES}


@dataclass(frozen=True, slots=True)
class Grants:
    """The application permissions a token carries; `roles` None = unknown (assume granted)."""

    roles: frozenset[str] | None

    @classmethod
    def from_claims(cls, claims: dict[str, object] | None) -> Grants:
        if not claims or "roles" not in claims:
            return cls(None)
        raw = claims.get("roles")
        values: Iterable[object] = raw if isinstance(raw, list | tuple) else ()
        return cls(frozenset(str(role) for role in values))

    @property
    def known(self) -> bool:
        return self.roles is not None

    def allows(self, key: str) -> bool:
        if self.roles is None:
            return True
        return any(permission in self.roles for permission in BY_KEY[key].any_of)

    def missing(self, key: str) -> str | None:
        """A plain reason when the feature's permission is known to be missing, else None."""
        if self.allows(key):
            return None
        feature = BY_KEY[key]
        names = " or ".join(feature.any_of)
        return f"the app lacks the Graph application permission {names}"
