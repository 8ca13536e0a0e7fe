"""The OCSF helpers every event class uses, under public names.

Value cleaning (`text`, `epoch_ms`), `metadata.product`, the event uid, the mapping-table row
and the Markdown helpers of docs/mapping.md are the same for every class. They are defined today
in `user_inventory` (the first class) and re-exported here, so a new class module imports them
from one public place and no code is copied; the stream-registry work moves the definitions
here and lets `user_inventory` and `authentication` import them back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from connector.ocsf import user_inventory as _first

__all__ = [
    "ACCOUNT_TYPE_CAPTIONS",
    "CATEGORY_DISCOVERY",
    "OCSF_VERSION",
    "SEVERITY_CAPTIONS",
    "MappingError",
    "MappingRow",
    "Product",
    "cell",
    "constant_rows",
    "epoch_ms",
    "event_uid",
    "json_block",
    "product_json",
    "text",
]

OCSF_VERSION: Final = _first.OCSF_VERSION
SEVERITY_CAPTIONS: Final[Mapping[int, str]] = _first.SEVERITY_CAPTIONS
ACCOUNT_TYPE_CAPTIONS: Final[Mapping[int, str]] = _first.ACCOUNT_TYPE_CAPTIONS
#: Category 5 (Discovery), shared by the inventory classes (5001, 5003).
CATEGORY_DISCOVERY: Final[Mapping[int, str]] = _first.CATEGORY_CAPTIONS

MappingError = _first.MappingError
MappingRow = _first.MappingRow
Product = _first.Product
cell = _first.cell
constant_rows = _first.constant_rows
json_block = _first.json_block
event_uid = _first.event_uid


def text(value: Any) -> str | None:
    """A usable string: stripped, non-empty, not an "unknown"/"n/a" placeholder; ints as text."""
    return _first._text(value)


def epoch_ms(value: Any) -> int | None:
    """A Graph ISO 8601 timestamp as epoch ms; unparsable or a .NET sentinel year is unknown."""
    return _first._epoch_ms(value)


def product_json(product: Product) -> dict[str, str]:
    """`metadata.product` of an event (a fresh dict; raises ValueError without a name)."""
    return _first._product(product)
