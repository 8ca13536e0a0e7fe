"""The OCSF helpers every event class uses: value cleaning, `metadata.product`, the event uid,
the mapping-table row and the Markdown helpers of docs/mapping.md.

Each class module (`user_inventory`, `authentication`, `device_inventory`) imports these from
here, so a new class adds a module and copies nothing. Hot-path helpers (`text`, `epoch_ms`,
`product_json`) are written for speed: a 100,000-user run calls them millions of times.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

__all__ = [
    "ACCOUNT_TYPE_CAPTIONS",
    "CATEGORY_DISCOVERY",
    "EMAIL_PATTERN",
    "EVENT_UID_NAMESPACE",
    "OCSF_VERSION",
    "PLACEHOLDERS",
    "SEVERITY_CAPTIONS",
    "MappingError",
    "MappingRow",
    "Origin",
    "Product",
    "cell",
    "constant_rows",
    "email",
    "epoch_ms",
    "event_header",
    "event_uid",
    "json_block",
    "product_json",
    "text",
]

OCSF_VERSION: Final = "1.8.0"

#: Category 5 (Discovery), shared by the inventory classes (5001, 5003).
CATEGORY_DISCOVERY: Final[Mapping[int, str]] = {5: "Discovery"}
SEVERITY_CAPTIONS: Final[Mapping[int, str]] = {
    0: "Unknown",
    1: "Informational",
    2: "Low",
    3: "Medium",
    4: "High",
    5: "Critical",
    6: "Fatal",
    99: "Other",
}
ACCOUNT_TYPE_CAPTIONS: Final[Mapping[int, str]] = {
    0: "Unknown",
    1: "LDAP Account",
    2: "Windows Account",
    3: "AWS IAM User",
    4: "AWS IAM Role",
    5: "GCP Account",
    6: "Azure AD Account",
    7: "Mac OS Account",
    8: "Apple Account",
    9: "Linux Account",
    10: "AWS Account",
    11: "GCP Project",
    12: "OCI Compartment",
    13: "Azure Subscription",
    14: "Salesforce Account",
    15: "Google Workspace",
    16: "Servicenow Instance",
    17: "M365 Tenant",
    18: "Email Account",
    19: "ActiveDirectory Account",
    99: "Other",
}

#: The `email_t` pattern of the OCSF 1.8.0 JSON Schema, verbatim (a test compares them).
EMAIL_PATTERN: Final = r"^[a-zA-Z0-9!#$%&'*+-/=?^_`{|}~.]+@[a-zA-Z0-9-]+\.[a-zA-Z0-9-.]+$"
_EMAIL_RE: Final = re.compile(EMAIL_PATTERN)

#: Namespace of `metadata.uid`: uuid5(namespace, f"{tenant_id}/{object id}/{collected_at_ms}").
EVENT_UID_NAMESPACE: Final = uuid.UUID("5c0f2f0e-6d8b-5d39-9a3e-0c9f6f3e8a41")
_NAMESPACE_BYTES: Final = EVENT_UID_NAMESPACE.bytes
# RFC 4122 variant: the top two bits of the 17th hex digit become 10.
_UUID_VARIANT: Final = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS: Final = timedelta(milliseconds=1)
_fromisoformat: Final = datetime.fromisoformat
# Years of .NET DateTime.MinValue / MaxValue: Graph's way of saying "never" or "not set".
_FIRST_YEAR: Final = 1
_LAST_YEAR: Final = 9999
#: Source placeholders that mean "no value", in every letter case ("null"/"none" are left
#: alone: they are real surnames). A set of variants is one hash lookup per string.
PLACEHOLDERS: Final = frozenset(
    "".join(letters)
    for word in ("unknown", "n/a")
    for letters in itertools.product(*({c.lower(), c.upper()} for c in word))
)


class MappingError(ValueError):
    """A Graph record that cannot become a valid event; the caller counts and skips it."""


@dataclass(frozen=True, slots=True)
class Product:
    name: str
    vendor_name: str
    version: str


# --------------------------------------------------------------------------- value helpers

def text(value: Any) -> str | None:
    """A usable string: stripped, non-empty, not a placeholder; integers are taken as text."""
    if value.__class__ is str:
        value = value.strip()
        return value if value and value not in PLACEHOLDERS else None
    if value is None:
        return None
    if isinstance(value, str):  # a str subclass
        return text(str(value))
    if type(value) is int:
        try:
            return str(value)
        except ValueError:  # more digits than int->str allows
            return None
    return None


def epoch_ms(value: Any) -> int | None:
    """Graph ISO 8601 timestamp -> epoch milliseconds; anything unparsable is unknown."""
    if value.__class__ is not str and (value is None or not isinstance(value, str)):
        return None
    try:
        moment = _fromisoformat(value)
    except ValueError:
        try:
            moment = _fromisoformat(value.strip())
        except ValueError:
            return None
    if not _FIRST_YEAR < moment.year < _LAST_YEAR:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return (moment - _EPOCH) // _ONE_MS
    except OverflowError:
        return None


def email(value: Any) -> str | None:
    """An address valid under OCSF's email_t; guest UPNs (`#EXT#`) are not addresses."""
    found = text(value)
    if found is None or _EMAIL_RE.fullmatch(found) is None:
        return None
    if "#" in found and "#EXT#" in found.upper():
        return None
    return found


def event_header(*, class_uid: int, class_name: str, category_uid: int, category_name: str,
                 activity_id: int, activity_name: str, type_name: str | None = None,
                 severity_id: int = 1) -> dict[str, Any]:
    """The classification fields every event starts with, in OCSF's order; `type_name` defaults
    to "<class>: <activity>", as OCSF composes it (and as a source's own label for Other)."""
    type_uid = class_uid * 100 + activity_id
    return {
        "activity_id": activity_id, "activity_name": activity_name,
        "category_uid": category_uid, "category_name": category_name,
        "class_uid": class_uid, "class_name": class_name,
        "type_uid": type_uid, "type_name": type_name or f"{class_name}: {activity_name}",
        "severity_id": severity_id, "severity": SEVERITY_CAPTIONS[severity_id],
    }


def event_uid(tenant_id: str, object_id: str, collected_at_ms: int) -> str:
    """uuid5(EVENT_UID_NAMESPACE, "tenant/object/ms"), without uuid.UUID's per-call overhead."""
    name = f"{tenant_id}/{object_id}/{collected_at_ms}".encode("utf-8", "surrogatepass")
    h = hashlib.sha1(_NAMESPACE_BYTES + name).hexdigest()
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_UUID_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


_product_cache: list[tuple[Product, dict[str, str]]] = []


def product_json(product: Product) -> dict[str, str]:
    """`metadata.product`, built once per Product (a run has one) and copied per event; raises
    ValueError without a name."""
    for known, built in _product_cache:
        if known is product:
            return dict(built)
    fields = {"name": product.name, "vendor_name": product.vendor_name, "version": product.version}
    built = {key: found for key, value in fields.items() if (found := text(value)) is not None}
    if "name" not in built:
        raise ValueError("Product.name must be a non-empty string")
    _product_cache[:] = [(product, built)]
    return dict(built)


# --------------------------------------------------------------------------- the mapping table

#: Where a mapped value comes from: the class's own Graph record (`user`, `sign_in`, `device`),
#: a second record joined to it (`intune`), facts other sources learnt (`facts`), the run
#: (`context`), or nowhere (`constant`).
Origin = Literal["user", "sign_in", "device", "intune", "facts", "context", "constant"]


@dataclass(frozen=True, slots=True)
class MappingRow:
    """One line of the mapping: where a value comes from, where it goes, and the rule."""

    source: str
    path: str  # OCSF path; `[]` = every list item, `[name=x]` = the item whose name is x
    rule: str
    origin: Origin = "user"


def _const(path: str, value: object) -> MappingRow:
    return MappingRow("(constant)", path, f"`{json.dumps(value)}`", "constant")


def constant_rows(header: Mapping[str, Any]) -> tuple[MappingRow, ...]:
    """The classification fields every event of a class carries, as mapping rows."""
    return tuple(_const(path, value) for path, value in header.items())


def cell(value: str) -> str:
    """Text fit for one Markdown table cell."""
    return value.replace("|", "\\|").replace("\n", " ")


def json_block(value: Any) -> list[str]:
    """Markdown lines of a fenced JSON block, as the mapping document shows examples."""
    return ["```json", json.dumps(value, indent=2, ensure_ascii=False), "```", ""]
