"""Graph JSON for simulator records, property by property, as Graph v1.0 shapes it.

Each resource has a table of selectable properties (name -> how to read it) and the set Graph
returns when no `$select` is given. Dicts are built only for the page being served.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from typing import Any

from entrasim import catalog
from entrasim.odata import Prop
from entrasim.tenant import (
    Group,
    Principal,
    RoleAssignment,
    ServicePrincipal,
    Tenant,
    User,
    employee_org_data,
)

Json = dict[str, Any]
Getter = Callable[[Any], Any]


def _guid_from(*parts: str) -> str:
    h = hashlib.md5("|".join(parts).encode(), usedforsecurity=False).hexdigest()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


def sign_in_activity(u: User) -> Json | None:
    if u.last_sign_in is None and u.last_success is None and u.last_non_interactive is None:
        return None
    return {
        "lastSignInDateTime": u.last_sign_in,
        "lastSignInRequestId": _guid_from(u.id, "i", u.last_sign_in) if u.last_sign_in else None,
        "lastNonInteractiveSignInDateTime": u.last_non_interactive,
        "lastNonInteractiveSignInRequestId": (
            _guid_from(u.id, "n", u.last_non_interactive) if u.last_non_interactive else None
        ),
        "lastSuccessfulSignInDateTime": u.last_success,
        "lastSuccessfulSignInRequestId": _guid_from(u.id, "s", u.last_success) if u.last_success else None,
    }


def _proxy_addresses(u: User) -> list[str]:
    return [] if u.mail is None else ["SMTP:" + u.mail]


def _distinguished_name(u: User) -> str | None:
    if not u.on_prem:
        return None
    cn = (u.display or u.mail_nickname).replace(",", "\\,")
    return f"CN={cn},OU=Users,DC=corp,DC=example,DC=com"


def _security_identifier(u: User) -> str | None:
    if not u.on_prem:
        return None
    rid = int(u.id.replace("-", "")[:6], 16) % 900_000 + 1_000
    return f"S-1-5-21-1004336348-1177238915-682003330-{rid}"


USER_PROPS: dict[str, Getter] = {
    "id": lambda u: u.id,
    "businessPhones": lambda u: [],
    "displayName": lambda u: u.display,
    "givenName": lambda u: u.given,
    "jobTitle": lambda u: u.job_title,
    "mail": lambda u: u.mail,
    "mobilePhone": lambda u: None,
    "officeLocation": lambda u: u.office,
    "preferredLanguage": lambda u: None if u.is_guest else "en-US",
    "surname": lambda u: u.surname,
    "userPrincipalName": lambda u: u.upn,
    "accountEnabled": lambda u: u.enabled,
    "ageGroup": lambda u: None,
    "city": lambda u: None,
    "companyName": lambda u: u.company,
    "country": lambda u: None,
    "createdDateTime": lambda u: u.created,
    "creationType": lambda u: "Invitation" if u.is_guest else None,
    "deletedDateTime": lambda u: u.deleted,
    "department": lambda u: u.department,
    "employeeHireDate": lambda u: u.hire_date,
    "employeeId": lambda u: u.employee_id,
    "employeeLeaveDateTime": lambda u: None,
    "employeeType": lambda u: u.employee_type,
    "externalUserState": lambda u: "Accepted" if u.is_guest else None,
    "isManagementRestricted": lambda u: None,
    "mailNickname": lambda u: u.mail_nickname,
    "onPremisesImmutableId": lambda u: _guid_from(u.id, "imm")[:24] if u.on_prem else None,
    "onPremisesSamAccountName": lambda u: u.mail_nickname[:20] if u.on_prem else None,
    "onPremisesSyncEnabled": lambda u: u.on_prem,
    "onPremisesDistinguishedName": _distinguished_name,
    "onPremisesSecurityIdentifier": _security_identifier,
    "employeeOrgData": employee_org_data,
    "otherMails": lambda u: [u.mail] if u.is_guest and u.mail else [],
    "proxyAddresses": _proxy_addresses,
    "usageLocation": lambda u: None if u.is_guest else "US",
    "userType": lambda u: u.user_type,
}
USER_DEFAULT = (
    "businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone",
    "officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id",
)
USER_SELECTABLE: dict[str, object] = {**USER_PROPS, "signInActivity": None, "manager": None, "memberOf": None}
USER_FILTER: dict[str, Prop] = {
    "id": Prop(lambda u: u.id, "guid"),
    "createdDateTime": Prop(lambda u: u.created, "datetime"),
    "userType": Prop(lambda u: u.user_type, "str"),
    "accountEnabled": Prop(lambda u: u.enabled, "bool"),
    "userPrincipalName": Prop(lambda u: u.upn, "str"),
    "mail": Prop(lambda u: u.mail, "str"),
    "displayName": Prop(lambda u: u.display, "str"),
    "givenName": Prop(lambda u: u.given, "str"),
    "surname": Prop(lambda u: u.surname, "str"),
    "department": Prop(lambda u: u.department, "str"),
    "jobTitle": Prop(lambda u: u.job_title, "str"),
    "companyName": Prop(lambda u: u.company, "str"),
    "employeeId": Prop(lambda u: u.employee_id, "str"),
    "signInActivity/lastSignInDateTime": Prop(lambda u: u.last_sign_in, "datetime"),
    "signInActivity/lastSuccessfulSignInDateTime": Prop(lambda u: u.last_success, "datetime"),
}
USER_ORDER: dict[str, Getter] = {
    "displayName": lambda u: (u.display or "").lower(),
    "userPrincipalName": lambda u: u.upn.lower(),
    "createdDateTime": lambda u: u.created,
}


def user_json(u: User, props: Iterable[str], *, typed: bool = False) -> Json:
    out: Json = {"@odata.type": "#microsoft.graph.user"} if typed else {}
    for name in props:
        if name == "signInActivity":
            activity = sign_in_activity(u)
            if activity is not None:
                out[name] = activity
        elif name in USER_PROPS:
            out[name] = USER_PROPS[name](u)
    return out


_GROUP_FLAGS = {
    # kind: (mailEnabled, securityEnabled, groupTypes)
    "security": (False, True, ()),
    "m365": (True, False, ("Unified",)),
    "mailSecurity": (True, True, ()),
    "distribution": (True, False, ()),
}
GROUP_PROPS: dict[str, Getter] = {
    "id": lambda g: g.id,
    "deletedDateTime": lambda g: None,
    "classification": lambda g: None,
    "createdDateTime": lambda g: g.created,
    "description": lambda g: g.description,
    "displayName": lambda g: g.name,
    "groupTypes": lambda g: list(_GROUP_FLAGS[g.kind][2]),
    "isAssignableToRole": lambda g: True if g.role_assignable else None,
    "mail": lambda g: g.mail,
    "mailEnabled": lambda g: _GROUP_FLAGS[g.kind][0],
    "mailNickname": lambda g: (g.mail or g.name).split("@")[0].replace(" ", ""),
    "membershipRule": lambda g: None,
    "onPremisesSyncEnabled": lambda g: None,
    "securityEnabled": lambda g: _GROUP_FLAGS[g.kind][1],
    "securityIdentifier": lambda g: "S-1-12-1-" + "-".join(str(int(g.id.replace("-", "")[i:i + 8], 16)) for i in (0, 8, 16, 24)),
    "visibility": lambda g: "Private" if g.kind == "m365" else None,
}
GROUP_FILTER: dict[str, Prop] = {
    "id": Prop(lambda g: g.id, "guid"),
    "displayName": Prop(lambda g: g.name, "str"),
    "securityEnabled": Prop(lambda g: _GROUP_FLAGS[g.kind][1], "bool"),
    "mailEnabled": Prop(lambda g: _GROUP_FLAGS[g.kind][0], "bool"),
    "isAssignableToRole": Prop(lambda g: g.role_assignable, "bool"),
}


def group_json(g: Group, props: Iterable[str] | None = None, *, typed: bool = False) -> Json:
    out: Json = {"@odata.type": "#microsoft.graph.group"} if typed else {}
    for name in props or GROUP_PROPS:
        if name in GROUP_PROPS:
            out[name] = GROUP_PROPS[name](g)
    return out


def role_definition_json(r: catalog.RoleDefinition) -> Json:
    return {
        "id": r.template_id,
        "description": r.description,
        "displayName": r.display_name,
        "isBuiltIn": True,
        "isEnabled": True,
        "isPrivileged": r.is_privileged,
        "resourceScopes": ["/"],
        "templateId": r.template_id,
        "version": "1",
        "rolePermissions": [{"allowedResourceActions": ["microsoft.directory/users/standard/read"], "condition": None}],
        "inheritsPermissionsFrom": [],
    }


def directory_role_json(tenant: Tenant, r: catalog.RoleDefinition, *, typed: bool = False) -> Json:
    out: Json = {"@odata.type": "#microsoft.graph.directoryRole"} if typed else {}
    out.update({
        "id": tenant.directory_role_ids[r.template_id],
        "deletedDateTime": None,
        "description": r.description,
        "displayName": r.display_name,
        "roleTemplateId": r.template_id,
    })
    return out


def service_principal_json(sp: ServicePrincipal) -> Json:
    return {
        "@odata.type": "#microsoft.graph.servicePrincipal",
        "id": sp.id,
        "appId": sp.app_id,
        "displayName": sp.name,
        "servicePrincipalType": "Application",
        "accountEnabled": True,
    }


def principal_json(p: Principal) -> Json:
    if isinstance(p, User):
        return user_json(p, ("id", "displayName", "userPrincipalName", "mail", "userType", "accountEnabled"), typed=True)
    if isinstance(p, Group):
        return group_json(p, ("id", "displayName", "mail", "securityEnabled", "isAssignableToRole"), typed=True)
    return service_principal_json(p)


def role_assignment_json(a: RoleAssignment, expand: str | None) -> Json:
    out: Json = {
        "id": a.id,
        "principalId": a.principal.id,
        "roleDefinitionId": a.role.template_id,
        "directoryScopeId": "/",
        "appScopeId": None,
        "condition": None,
    }
    if expand == "principal":
        out["principal"] = principal_json(a.principal)
    elif expand == "roleDefinition":
        out["roleDefinition"] = role_definition_json(a.role)
    return out


ASSIGNMENT_FILTER: dict[str, Prop] = {
    "principalId": Prop(lambda a: a.principal.id, "guid"),
    "roleDefinitionId": Prop(lambda a: a.role.template_id, "guid"),
    "directoryScopeId": Prop(lambda a: "/", "str"),
}


def _preferred(names: tuple[str, ...]) -> tuple[str, str]:
    """(userPreferredMethodForSecondaryAuthentication, systemPreferred) for registered methods."""
    if "passKeyDeviceBound" in names or "fido2SecurityKey" in names or "passKeyDeviceBoundAuthenticator" in names:
        return ("push" if "microsoftAuthenticatorPush" in names else "none", "Fido2")
    if "microsoftAuthenticatorPush" in names:
        return "push", "push"
    if "softwareOneTimePasscode" in names or "hardwareOneTimePasscode" in names:
        return "oath", "oath"
    if "mobilePhone" in names:
        return "sms", "sms"
    if "officePhone" in names:
        return "voiceOffice", "voiceOffice"
    return "none", ""


def registration_json(u: User, is_admin: bool, as_of: str) -> Json:
    names = u.method_names()
    strong = any(n in catalog.STRONG_METHODS for n in names)
    preferred, system = _preferred(names)
    return {
        "id": u.id,
        "userPrincipalName": u.upn,
        "userDisplayName": u.display,
        "userType": "guest" if u.is_guest else "member",
        "isAdmin": is_admin,
        "isSsprRegistered": strong or "email" in names,
        "isSsprEnabled": not u.is_guest,
        "isSsprCapable": not u.is_guest and (strong or "email" in names),
        "isMfaRegistered": strong,
        "isMfaCapable": strong,
        "isPasswordlessCapable": any(n in catalog.PASSWORDLESS_METHODS for n in names),
        "methodsRegistered": list(names),
        "isSystemPreferredAuthenticationMethodEnabled": True,
        "systemPreferredAuthenticationMethods": [system] if system else [],
        "userPreferredMethodForSecondaryAuthentication": preferred,
        "lastUpdatedDateTime": u.mfa_updated or as_of,
    }


REGISTRATION_FILTER: dict[str, Prop] = {
    "id": Prop(lambda r: r[0].id, "guid"),
    "userPrincipalName": Prop(lambda r: r[0].upn, "str"),
    "userType": Prop(lambda r: "guest" if r[0].is_guest else "member", "str"),
    "isAdmin": Prop(lambda r: r[1], "bool"),
    "isMfaRegistered": Prop(lambda r: bool(r[0].methods & catalog.STRONG_MASK), "bool"),
    "isMfaCapable": Prop(lambda r: bool(r[0].methods & catalog.STRONG_MASK), "bool"),
}


def authentication_methods_json(u: User) -> list[Json]:
    """The per-user methods list with Graph's `@odata.type`s and method ids."""
    names = u.method_names()
    created = u.created
    out: list[Json] = []
    if not u.is_guest:
        out.append({"@odata.type": "#microsoft.graph.passwordAuthenticationMethod",
                    "id": catalog.PASSWORD_METHOD_ID, "password": None, "createdDateTime": created})
    pick = int(u.id[:8], 16)
    for name in names:
        mid = _guid_from(u.id, name)
        if name in ("microsoftAuthenticatorPush", "microsoftAuthenticatorPasswordless"):
            if name == "microsoftAuthenticatorPasswordless" and "microsoftAuthenticatorPush" in names:
                continue
            out.append({"@odata.type": "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod",
                        "id": mid, "displayName": catalog.DEVICES[pick % len(catalog.DEVICES)],
                        "deviceTag": "SoftwareTokenActivated", "phoneAppVersion": "6.2409.6094",
                        "createdDateTime": created})
        elif name in ("fido2SecurityKey", "passKeyDeviceBound", "passKeyDeviceBoundAuthenticator"):
            table = {"fido2SecurityKey": catalog.SECURITY_KEYS,
                     "passKeyDeviceBound": catalog.PASSKEY_PLATFORM,
                     "passKeyDeviceBoundAuthenticator": catalog.AUTHENTICATOR_PASSKEY_AAGUIDS}[name]
            aaguid, model = table[pick % len(table)]
            out.append({"@odata.type": "#microsoft.graph.fido2AuthenticationMethod", "id": mid,
                        "displayName": model if name != "fido2SecurityKey" else "Security key",
                        "createdDateTime": created, "aaGuid": aaguid, "model": model,
                        "attestationCertificates": [], "attestationLevel":
                            "attested" if name == "fido2SecurityKey" else "notAttested"})
        elif name == "windowsHelloForBusiness":
            out.append({"@odata.type": "#microsoft.graph.windowsHelloForBusinessAuthenticationMethod",
                        "id": mid, "displayName": f"DESKTOP-{u.id[:7].upper()}",
                        "createdDateTime": created, "keyStrength": "normal"})
        elif name == "softwareOneTimePasscode":
            out.append({"@odata.type": "#microsoft.graph.softwareOathAuthenticationMethod",
                        "id": mid, "secretKey": None})
        elif name == "hardwareOneTimePasscode":
            out.append({"@odata.type": "#microsoft.graph.hardwareOathAuthenticationMethod", "id": mid,
                        "displayName": "Token", "serialNumber": str(pick % 10**8).zfill(8),
                        "manufacturer": "Token2", "model": "C202", "secretKey": None,
                        "timeIntervalInSeconds": 30, "status": "activated", "lastUsedDateTime": None,
                        "hashFunction": "hmacsha1", "createdDateTime": created})
        elif name in catalog.PHONE_METHOD_IDS:
            pid, kind = catalog.PHONE_METHOD_IDS[name]
            out.append({"@odata.type": "#microsoft.graph.phoneAuthenticationMethod", "id": pid,
                        "phoneNumber": f"+1 425555{pick % 10000:04d}", "phoneType": kind,
                        "smsSignInState": "notAllowedByPolicy"})
        elif name == "email":
            out.append({"@odata.type": "#microsoft.graph.emailAuthenticationMethod",
                        "id": catalog.EMAIL_METHOD_ID,
                        "emailAddress": f"{u.mail_nickname.split('#')[0]}@personal.example"})
        elif name == "temporaryAccessPass":
            out.append({"@odata.type": "#microsoft.graph.temporaryAccessPassAuthenticationMethod",
                        "id": mid, "temporaryAccessPass": None, "createdDateTime": created,
                        "startDateTime": created, "lifetimeInMinutes": 480, "isUsableOnce": True,
                        "isUsable": False, "methodUsabilityReason": "Expired"})
    return out


def risky_user_json(u: User) -> Json:
    assert u.risk is not None
    _, _, when = u.risk
    level, state = u.reported_risk() or ("none", "none")
    detail = {"confirmedCompromised": "adminConfirmedUserCompromised", "remediated": "userPerformedSecuredPasswordReset",
              "dismissed": "adminDismissedAllRiskForUser"}.get(state, "none")
    return {
        "id": u.id, "isDeleted": False, "isProcessing": False,
        "riskLastUpdatedDateTime": when.replace("Z", ".0000000Z"),
        "riskLevel": level,
        "riskState": state, "riskDetail": detail,
        "userDisplayName": u.display, "userPrincipalName": u.upn,
    }


RISKY_FILTER: dict[str, Prop] = {
    "riskLastUpdatedDateTime": Prop(lambda u: u.risk[2] if u.risk else None, "datetime"),
    "riskLevel": Prop(lambda u: u.risk[0] if u.risk else None, "str"),
    "riskState": Prop(lambda u: u.risk[1] if u.risk else None, "str"),
    "userPrincipalName": Prop(lambda u: u.upn, "str"),
}


def select_fields(obj: Json, select: list[str] | None) -> Json:
    if not select:
        return obj
    keep = {s for s in select}
    return {k: v for k, v in obj.items() if k in keep or k == "@odata.type"}
