"""Our OCSF 5003 events as the SDK's `UserOCSFModel`, the shape Sekoia.io's asset API takes.

The SDK's model is a narrower OCSF 1.5/1.6 user inventory: pydantic drops every field it does not
declare. What it can hold is moved as is; where it requires a value we may not have (a user's or
a group's name) the best identifier we do have stands in; a fact it has no field for is carried
where one fits (an account's disabled state as the account enrichment's `is_enabled`, the only
place the model has for it) and otherwise listed in `DROPPED` (and docs/sekoia.md). Both tables
feed `get_mapped_fields()`, so changing either makes the SDK re-collect everything once.

Unknown stays unknown: an entry is written only when our event carries the fact.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from sekoia_automation_models.ocsf.user import UserOCSFModel

__all__ = ["ASSET_MAPPING", "DROPPED", "AssetMappingError", "AssetRow", "to_asset"]


class AssetMappingError(ValueError):
    """An event that cannot become the SDK's model (counted and skipped by the caller)."""


@dataclass(frozen=True, slots=True)
class AssetRow:
    """One move from our event onto the SDK's model: where from, where to, and why."""

    source: str  # path in our OCSF 1.8.0 event
    target: str  # path in the pushed UserOCSFModel item
    rule: str


def _iso(epoch_ms: Any) -> str | None:
    if isinstance(epoch_ms, bool) or not isinstance(epoch_ms, int | float):
        return None
    moment = datetime.fromtimestamp(epoch_ms / 1000, UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _path(event: Mapping[str, Any], dotted: str) -> Any:
    node: Any = event
    for part in dotted.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def _account_status(event: Mapping[str, Any]) -> Mapping[str, Any]:
    for enrichment in event.get("enrichments") or ():
        if isinstance(enrichment, Mapping) and enrichment.get("name") == "account":
            data = enrichment.get("data")
            return data if isinstance(data, Mapping) else {}
    return {}


ASSET_MAPPING: Final[tuple[AssetRow, ...]] = (
    AssetRow("user.name (or user.account.name, user.uid)", "user.name",
             "the model requires a name: display name, else the UPN, else the object id"),
    AssetRow("user.account.name (or user.uid)", "user.account.name",
             "the model requires an account name: the UPN, else the object id"),
    AssetRow("user.groups[].name (or uid)", "user.groups[].name",
             "the model requires a group name: the group id when Graph gave none"),
    AssetRow("user.account.is_disabled", "enrichments[name=account].data.is_enabled",
             "its negation (the model has no is_disabled); our account enrichment carries it"),
    AssetRow("enrichments[name=account].data.is_deleted",
             "enrichments[name=account].data.is_enabled",
             "a deleted user (soft or hard) goes out as not enabled: the model has no deletion "
             "field, and a deleted account cannot sign in"),
    AssetRow("enrichments[name=account].data.last_logon",
             "enrichments[name=account].data.last_logon",
             "epoch ms -> ISO 8601 UTC text (the model's type)"),
)

# What our events carry and the SDK's model has no field for (pydantic drops it): the docs list
# these, and `get_mapped_fields()` includes them so a change here re-collects.
DROPPED: Final[tuple[tuple[str, str], ...]] = (
    ("metadata.uid, metadata.tenant_uid", "Metadata has product and version only"),
    ("user.account.is_on_premises_sync_enabled", "Account has name, type and uid only"),
    ("user.ldap_person.cost_center, ldap_dn, created_time, hire_time, leave_time, "
     "last_login_time, email_addrs, labels (user type, employee type), manager",
     "LdapPerson has job title, department, employee id, names and office only"),
    ("enrichments[name=account].data: is_mfa, mfa_methods, is_admin, admin_roles, risk_level, "
     "risk_state, risk_updated_time, is_restricted, user_type",
     "UserDataObject has is_enabled and last_logon of ours; has_mfa, type (Admin) and "
     "risk_level on `user` keep the first of each pair"),
    ("enrichments[name=account]: type, provider, created_time",
     "UserEnrichmentObject has name, value and data only"),
    ("unmapped; a deleted user's markers (user.ldap_person.deleted_time, the account "
     "enrichment's deletion kind)",
     "the model has no `unmapped` and no field saying a user was deleted"),
    ("enrichments[name=employment]",
     "its facts are in user.ldap_person; its data would be an empty object, which OCSF's "
     "required `data` cannot be"),
)


def _first_text(*values: Any) -> str | None:
    return next((v for v in values if isinstance(v, str) and v), None)


def to_asset(event: Mapping[str, Any]) -> UserOCSFModel:
    """One of our User Inventory Info events -> the SDK's `UserOCSFModel` (see module doc)."""
    user = event.get("user")
    if not isinstance(user, Mapping) or not _text(user.get("uid")):
        raise AssetMappingError("event has no user.uid")
    uid: str = user["uid"]
    account = user.get("account") if isinstance(user.get("account"), Mapping) else None
    out_user: dict[str, Any] = dict(user)
    out_user["name"] = _first_text(user.get("name"), account and account.get("name"), uid)
    if account is not None:
        out_user["account"] = {**account, "name": _first_text(account.get("name"), uid)}
    groups = user.get("groups")
    if isinstance(groups, list):
        out_user["groups"] = [
            {**g, "name": _first_text(g.get("name"), g.get("uid"))}
            for g in groups if isinstance(g, Mapping) and _first_text(g.get("name"), g.get("uid"))
        ]
    status = _account_status(event)
    data: dict[str, Any] = {}
    if status.get("is_deleted") is True:
        data["is_enabled"] = False  # a deleted account cannot sign in; the model has no deletion
    elif isinstance(status.get("is_enabled"), bool):
        data["is_enabled"] = status["is_enabled"]
    last_logon = _iso(status.get("last_logon"))
    if last_logon is not None:
        data["last_logon"] = last_logon
    enrichments = [{"name": "account", "value": "status", "data": data}] if data else []
    item = {**event, "user": out_user, "enrichments": enrichments or None}
    try:
        kept = UserOCSFModel.model_validate(item).model_dump(mode="json", exclude_none=True)
        # An object whose every field the model dropped would go out empty (e.g. ldap_person
        # holding only labels); OCSF has no use for an empty object, so it goes.
        return UserOCSFModel.model_validate(_without_empty(kept))
    except ValueError as exc:
        raise AssetMappingError(f"user {uid}: {_first_line(exc)}") from None


def _without_empty(value: Any) -> Any:
    if isinstance(value, dict):
        pruned = {k: _without_empty(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v != {} and v != []}
    if isinstance(value, list):
        return [_without_empty(v) for v in value]
    return value


def _first_line(exc: Exception) -> str:
    lines: Sequence[str] = str(exc).splitlines()
    return "; ".join(line.strip() for line in lines[:3])


def mapping_markdown() -> str:
    """The mapping section of docs/sekoia.md, rendered from `ASSET_MAPPING` and `DROPPED`."""
    lines = [
        "Every field of our event that the SDK's `UserOCSFModel` declares is pushed unchanged "
        "(see [mapping.md](mapping.md) for Graph -> OCSF). What changes on the way:",
        "",
        "| from our event | to the pushed item | rule |",
        "| --- | --- | --- |",
        *(f"| `{r.source}` | `{r.target}` | {r.rule} |" for r in ASSET_MAPPING),
        "",
        "What Sekoia's model cannot carry (pydantic drops what it does not declare):",
        "",
        "| our field | why it is dropped |",
        "| --- | --- |",
        *(f"| `{source}` | {why} |" for source, why in DROPPED),
        "",
    ]
    return "\n".join(lines)
