"""Unauthenticated control endpoints under `/_sim/` that change the tenant or read its ground
truth from another process (a benchmark runs the tenant in a child process).

- `POST /_sim/changes?n=100&seed=1[&late_listings=0]` -> `{"changes": [{kind, object_id, detail, users}]}`
  (`Tenant.apply_mixed_changes`)
- `POST /_sim/sign-ins?n=20000&seed=1[&when=ISO]` -> `{"signed_in": n, "when": ISO}`
- `POST /_sim/expire-delta-tokens?answer=expired|reset`
- `POST /_sim/mutate` with `{"op": "<mutation>", "args": [...], "kwargs": {...}}` for one of
  `MUTATIONS` (the tenant's public mutation methods) -> `{"ok": true}`
- `POST /_sim/truth` with `{"ids": [...]}` (or `GET /_sim/truth?ids=a,b`) -> `{"users": {id:
  ExpectedUser as JSON or null}}`, deleted users included (their `deleted` says how).
These are the simulator's own test hooks, not Graph: they never appear under `/v1.0`.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

import orjson

from entrasim.tenant import ExpectedUser, Tenant, parse_iso

Json = dict[str, Any]

MUTATIONS = frozenset({
    "add_user", "update_user", "set_profile", "set_manager", "disable_user", "enable_user",
    "delete_user", "restore_user", "purge_expired_deleted", "add_to_group", "remove_from_group",
    "rename_group", "delete_group", "assign_role", "remove_role", "set_mfa", "register_method",
    "remove_method", "set_risk", "set_sign_in", "set_sign_ins",
})


def expected_json(e: ExpectedUser) -> Json:
    out: Json = {}
    for f in dataclasses.fields(e):
        value = getattr(e, f.name)
        if isinstance(value, datetime):
            value = value.strftime("%Y-%m-%dT%H:%M:%SZ")
        elif isinstance(value, frozenset):
            value = sorted(list(v) if isinstance(v, tuple) else v for v in value)
        out[f.name] = value
    return out


def _when(text: str | None) -> datetime | None:
    return parse_iso(text) if text else None


def handle(tenant: Tenant, method: str, path: str, query: dict[str, str], body: bytes) -> tuple[int, Json] | None:
    """(status, JSON body) for a control request, or None when `path` is not one of these."""
    try:
        payload: Json = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError:
        return 400, {"error": "the body is not JSON"}
    try:
        if method == "POST" and path == "/_sim/changes":
            changes = tenant.apply_mixed_changes(int(query.get("n", "100")), int(query.get("seed", "1")),
                                                 late_listings=int(query.get("late_listings", "1")))
            return 200, {"changes": [dataclasses.asdict(c) for c in changes]}
        if method == "POST" and path == "/_sim/sign-ins":
            when = _when(query.get("when"))
            ids = tenant.sign_in_many(int(query.get("n", "1000")), int(query.get("seed", "1")), when)
            return 200, {"signed_in": len(ids), "when": query.get("when")}
        if method == "POST" and path == "/_sim/expire-delta-tokens":
            tenant.expire_delta_tokens(query.get("answer", "expired"))
            return 200, {"expired": True}
        if method == "POST" and path == "/_sim/mutate":
            op = str(payload.get("op", ""))
            if op not in MUTATIONS:
                return 400, {"error": f"unknown mutation {op!r}"}
            kwargs = dict(payload.get("kwargs") or {})
            for key in ("when", "created", "deleted_at", "now"):
                if isinstance(kwargs.get(key), str):
                    kwargs[key] = parse_iso(kwargs[key])
            result = getattr(tenant, op)(*(payload.get("args") or ()), **kwargs)
            out: Json = {"ok": True}
            if op == "add_user":
                out["id"] = result.id
            return 200, out
        if path == "/_sim/truth" and method in ("GET", "POST"):
            wanted = payload.get("ids") if method == "POST" else query.get("ids", "").split(",")
            truth = tenant.truth(include_deleted=True)
            return 200, {"users": {str(i): expected_json(truth[i]) if i in truth else None
                                   for i in wanted or () if i}}
    except (KeyError, ValueError, TypeError) as exc:
        return 400, {"error": f"{type(exc).__name__}: {exc}"}
    return None
