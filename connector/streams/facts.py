"""A user's remembered state: the document the store keeps per delivered user, and the pure
rules that merge a change into it.

Change tracking emits a changed user's *full* current state without re-reading the tenant, so
the store keeps, per user, what their last delivered event was made of: the Graph record
(`user`, nulls dropped), direct `groups` ([id, name] pairs), admin `roles`, `mfa` with `mfa_at`
(when it was learnt, or since when it is unknown), `risk`, `manager`, `deleted`. `fp` is a
fingerprint of everything an event is made of: a user is emitted again only when a change makes
it differ, so replays of a change source (Graph's delta may repeat objects; a run killed before
its cursor moved reads the same changes again) never re-emit users already delivered as they are.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from connector.ocsf import user_inventory as ocsf

__all__ = [
    "apply_group_changes", "changed_roles", "clean_user", "deletion", "facts_of", "fingerprint",
    "make_doc", "with_changes",
]

Doc = dict[str, Any]
# What an event is made of (bookkeeping such as `mfa_at` is not).
_EVENT_KEYS = ("user", "groups", "roles", "mfa", "risk", "manager", "deleted")
_DROPPED = frozenset({"manager", "manager@delta", "@removed", "members@delta"})


def clean_user(record: Mapping[str, Any]) -> dict[str, Any]:
    """A Graph user record as remembered: no nulls, no OData annotations, manager kept apart."""
    return {k: v for k, v in record.items()
            if v is not None and k not in _DROPPED and not k.startswith("@odata.")}


def fingerprint(doc: Mapping[str, Any]) -> str:
    """The same facts give the same fingerprint, in whatever order Graph listed the user's
    groups, roles or MFA methods (bulk and per-user sources, and group deltas, differ)."""
    facts = {k: doc.get(k) for k in _EVENT_KEYS}
    if isinstance(facts["groups"], list):
        facts["groups"] = sorted(facts["groups"], key=lambda pair: str(pair[0]))
    if isinstance(facts["roles"], list):
        facts["roles"] = sorted(facts["roles"], key=str)
    mfa = facts["mfa"]
    if isinstance(mfa, Mapping) and isinstance(mfa.get("methods"), list):
        facts["mfa"] = {**mfa, "methods": sorted(mfa["methods"], key=str)}
    data = orjson.dumps(facts, option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(data, digest_size=12).hexdigest()


def make_doc(user: Mapping[str, Any], facts: ocsf.UserFacts, *, mfa_at: str | None) -> Doc:
    """The document for a user whose event was built from `user` and `facts`."""
    manager = facts.manager
    doc: Doc = {
        "user": clean_user(user),
        "groups": [[g.uid, g.name] for g in facts.groups] if facts.groups is not None else None,
        "roles": list(facts.roles) if facts.roles is not None else None,
        "mfa": ({"registered": facts.mfa.registered, "methods": list(facts.mfa.methods)}
                if facts.mfa is not None else None),
        "mfa_at": mfa_at,
        "risk": ({"level": facts.risk.level, "state": facts.risk.state,
                  "updated": facts.risk.updated} if facts.risk is not None else None),
        "manager": ({k: manager[k] for k in ("id", "displayName", "userPrincipalName")
                     if manager.get(k) is not None} if manager is not None else None),
        "deleted": ({"kind": facts.deleted.kind, "at": facts.deleted.time}
                    if facts.deleted is not None else None),
    }
    doc["fp"] = fingerprint(doc)
    return doc


def facts_of(doc: Mapping[str, Any]) -> ocsf.UserFacts:
    """The facts an event is built from, read back from a document."""
    groups = doc.get("groups")
    mfa = doc.get("mfa")
    risk = doc.get("risk")
    deleted = doc.get("deleted")
    roles = doc.get("roles")
    return ocsf.UserFacts(
        groups=tuple(ocsf.Group(str(g[0]), g[1]) for g in groups) if groups is not None else None,
        roles=tuple(roles) if roles is not None else None,
        mfa=ocsf.Mfa(bool(mfa["registered"]), tuple(mfa.get("methods") or ()))
        if mfa is not None else None,
        manager=doc.get("manager"),
        risk=ocsf.Risk(risk.get("level"), risk.get("state"), risk.get("updated"))
        if risk is not None else None,
        deleted=ocsf.Deletion(deleted["kind"], deleted.get("at")) if deleted else None,
    )


def mfa_of(doc: Mapping[str, Any] | None) -> ocsf.Mfa | None:
    mfa = doc.get("mfa") if doc else None
    return ocsf.Mfa(bool(mfa["registered"]), tuple(mfa.get("methods") or ())) if mfa else None


def deletion(reason: str, when: str | None) -> dict[str, Any]:
    """`@removed` reason -> the document's `deleted`: `changed` is Graph's word for a soft delete
    (the object is in deleted items), `deleted` for a permanent one."""
    return {"kind": "soft" if reason == "changed" else "hard", "at": when}


def with_changes(doc: Mapping[str, Any], **changes: Any) -> Doc:
    """A copy of `doc` with `changes` applied and its fingerprint recomputed.

    `user` (a full record from `users/delta`) replaces the remembered one, keeping what delta
    cannot return (`signInActivity`); `sign_in` replaces `signInActivity` alone. A record for a
    deleted user restores them; a deletion empties their groups and roles (Entra ID removes a
    deleted user's memberships and role assignments).
    """
    out: Doc = dict(doc)
    record = changes.pop("user", None)
    if record is not None:
        user = clean_user(record)
        previous = doc.get("user") or {}
        if "signInActivity" in previous and "signInActivity" not in user:
            user["signInActivity"] = previous["signInActivity"]
        out["user"] = user
        out["deleted"] = None
    sign_in = changes.pop("sign_in", None)
    if sign_in is not None:
        out["user"] = {**(out.get("user") or {}), "signInActivity": sign_in}
    out.update(changes)
    if out.get("deleted"):
        out["groups"] = [] if out.get("groups") is not None else None
        out["roles"] = [] if out.get("roles") is not None else None
    out["fp"] = fingerprint(out)
    return out


def apply_group_changes(groups: list[list[Any]] | None, *, added: Mapping[str, str | None],
                        removed: Iterable[str], renamed: Mapping[str, str | None]
                        ) -> list[list[Any]] | None:
    """A user's direct groups after group deltas: `added` (id -> name), `removed` ids (a member
    removed, or the group deleted), `renamed` (id -> new name). Unknown groups stay unknown."""
    if groups is None:
        return None
    gone = set(removed)
    out = [[gid, renamed.get(gid, name)] for gid, name in groups if gid not in gone]
    held = {gid for gid, _ in out}
    out += [[gid, name] for gid, name in added.items() if gid not in held and gid not in gone]
    out.sort(key=lambda pair: str(pair[0]))
    return out


def changed_roles(before: Mapping[str, tuple[str, ...]], after: Mapping[str, tuple[str, ...]]
                  ) -> dict[str, tuple[str, ...]]:
    """user id -> their roles now, for each user whose admin roles differ (() = none left)."""
    out = {uid: tuple(sorted(roles)) for uid, roles in after.items()
           if tuple(sorted(roles)) != tuple(sorted(before.get(uid, ())))}
    out.update({uid: () for uid in before if uid not in after})
    return out
