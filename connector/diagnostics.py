"""What `connector test` checks: can this configuration collect, and what will it leave out?

Each check is a plain `Check` so the list can grow (secret expiry, proxy, clock skew) without
touching the CLI; `diagnose` only needs the settings and spends a handful of Graph requests.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Literal

from connector.clouds import resolve
from connector.graph.client import AuthenticationFailed, GraphClient, GraphError
from connector.graph.permissions import Grants
from connector.graph.sources import NON_PREMIUM, REGISTRATION_REPORT, build_url, refusal_reason

Status = Literal["ok", "missing", "unknown", "failed", "unavailable"]


@dataclass(frozen=True, slots=True)
class Check:
    section: str  # "connection" | "permissions" | "features"
    name: str
    status: Status
    detail: str = ""


@dataclass(slots=True)
class Diagnosis:
    checks: list[Check] = field(default_factory=list)
    can_collect: bool = False
    tenant: str | None = None

    def add(self, section: str, name: str, status: Status, detail: str = "") -> None:
        self.checks.append(Check(section, name, status, detail))

    def section(self, name: str) -> list[Check]:
        return [c for c in self.checks if c.section == name]


def manifest_permissions() -> Mapping[str, Any]:
    """The `permissions` block of the packaged manifest.json (required / optional / why)."""
    text = resources.files("connector").joinpath("manifest.json").read_text(encoding="utf-8")
    permissions = json.loads(text).get("permissions", {})
    return permissions if isinstance(permissions, Mapping) else {}


def _permission_checks(diagnosis: Diagnosis, grants: Grants) -> None:
    declared = manifest_permissions()
    alternative = declared.get("alternative") or {}
    covered_by = {name: alternative.get("name") for name in alternative.get("covers") or ()}
    for kind in ("required", "optional"):
        for entry in declared.get(kind) or ():
            name = str(entry.get("name"))
            why = str(entry.get("why") or entry.get("unlocks") or "")
            if grants.roles is None:
                status: Status = "unknown"
            elif name in grants.roles or (covered_by.get(name) in grants.roles):
                status = "ok"
            else:
                status = "missing"
            diagnosis.add("permissions", f"{name} ({kind})", status, why)


async def _probe(client: GraphClient, url: str) -> tuple[Status, str]:
    try:
        await client.get_json(url)
    except GraphError as error:
        if error.status in (400, 403, 404):
            return "unavailable", refusal_reason(error)
        raise
    return "ok", "available"


async def diagnose(settings: Any) -> Diagnosis:
    """Token, reachability, permissions and licence-dependent features, in that order."""
    diagnosis = Diagnosis()
    cloud = resolve(settings)
    client = GraphClient.from_settings(settings)
    try:
        try:
            claims = await client.token_claims() or {}
        except AuthenticationFailed as error:
            diagnosis.add("connection", "token", "failed", f"{error} (at {cloud.authority_host})")
            return diagnosis
        diagnosis.tenant = str(claims.get("tid") or settings.tenant_id)
        diagnosis.add("connection", "token", "ok",
                      f"from {cloud.authority_host} for {cloud.scope}")
        grants = Grants.from_claims(claims)
        try:
            await client.get_json(build_url("/users", {"$select": "id", "$top": 1}))
        except GraphError as error:
            what = "Graph refused to list users" if error.status in (401, 403) \
                else "Graph is not reachable"
            diagnosis.add("connection", "graph", "failed", f"{what}: {error}")
            _permission_checks(diagnosis, grants)
            return diagnosis
        diagnosis.add("connection", "graph", "ok", f"users readable at {client.base_url}")
        diagnosis.can_collect = True
        _permission_checks(diagnosis, grants)
        await _feature_checks(diagnosis, client, grants, cloud.name)
        return diagnosis
    finally:
        await client.aclose()


async def _feature_checks(diagnosis: Diagnosis, client: GraphClient, grants: Grants,
                          cloud_name: str) -> None:
    probes: Sequence[tuple[str, str, str]] = (
        ("last sign-in (signInActivity)", "last_sign_in",
         build_url("/users", {"$select": "id,signInActivity", "$top": 1})),
        ("MFA registration report", "mfa_report", build_url(REGISTRATION_REPORT, {"$top": 1})),
    )
    licensed: bool | None = None
    for label, key, url in probes:
        missing = grants.missing(key)
        if missing:
            diagnosis.add("features", label, "unavailable", missing)
            continue
        status, detail = await _probe(client, url)
        if status != "ok" and NON_PREMIUM in detail:
            licensed = False
        elif status == "ok":
            licensed = True
        diagnosis.add("features", label, status, detail)
    methods = grants.missing("mfa_methods")
    if cloud_name == "china":
        diagnosis.add("features", "per-user MFA methods", "unavailable",
                      "not offered in the China cloud")
    elif methods:
        diagnosis.add("features", "per-user MFA methods", "unavailable", methods)
    else:
        diagnosis.add("features", "per-user MFA methods", "ok",
                      "fallback for disabled users" if licensed else
                      "fallback for users the report does not cover")
    for key, label in (("groups", "group memberships"), ("roles", "admin roles")):
        missing = grants.missing(key)
        diagnosis.add("features", label, "unavailable" if missing else "ok",
                      missing or "available")
