"""The OData subset Graph's directory endpoints accept, with Graph's refusals.

`GraphError` carries a status and Graph's `error.code`; the server renders it with Graph's
envelope. `compile_filter` turns a `$filter` into a predicate over simulator records and
reports whether the expression needs an advanced query (`ConsistencyLevel: eventual` and
`$count=true`), since that is where Graph draws its line.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass(slots=True)
class GraphError(Exception):
    status: int
    code: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)


def bad_request(message: str, code: str = "BadRequest") -> GraphError:
    return GraphError(400, code, message)


def unsupported(message: str) -> GraphError:
    return GraphError(400, "Request_UnsupportedQuery", message)


DENIED = "Insufficient privileges to complete the operation."


def denied() -> GraphError:
    return GraphError(403, "Authorization_RequestDenied", DENIED)


def not_premium() -> GraphError:
    return GraphError(
        403,
        "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
        "Neither tenant is B2C or tenant doesn't have premium license",
    )


def not_found(key: str) -> GraphError:
    return GraphError(
        404, "Request_ResourceNotFound",
        f"Resource '{key}' does not exist or one of its queried reference-property objects are not present.",
    )


@dataclass(frozen=True, slots=True)
class Prop:
    """A filterable property: how to read it from a record and what kind of value it is."""

    get: Callable[[Any], Any]
    kind: str  # "str" | "datetime" | "bool" | "guid"


Predicate = Callable[[Any], bool]


@dataclass(frozen=True, slots=True)
class CompiledFilter:
    predicate: Predicate
    advanced: bool  # needs ConsistencyLevel: eventual + $count=true
    advanced_reason: str


_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<dt>\d{4}-\d{2}-\d{2}T[0-9:.]+(?:Z|[+-]\d{2}:\d{2})?)"
    r"|(?P<guid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})"
    r"|(?P<num>-?\d+(?:\.\d+)?)|(?P<punct>[(),])|(?P<word>[A-Za-z_][A-Za-z0-9_/.]*))"
)
_COMPARISONS = {"eq", "ne", "gt", "ge", "lt", "le"}
_ADVANCED_OPS = {"ne", "not", "in", "endswith"}


def normalise_datetime(text: str) -> str:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Tokens:
    """A `$filter` split into (kind, text) tokens by a pattern of named groups, and the cursor
    a recursive-descent parser moves over them; bad syntax is Graph's 400."""

    def __init__(self, text: str, pattern: re.Pattern[str]) -> None:
        self.text = text
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            m = pattern.match(text, pos)
            if not m or m.end() == pos:
                if text[pos:].strip() == "":
                    break
                raise self.invalid()
            kind = m.lastgroup or ""
            self.tokens.append((kind, m.group(kind)))
            pos = m.end()
        self.i = 0

    def invalid(self) -> GraphError:
        return bad_request(f"Invalid filter clause: syntax error in '{self.text}'.")

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, kind: str | None = None, value: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (kind and tok[0] != kind) or (value and tok[1].lower() != value):
            raise self.invalid()
        self.i += 1
        return tok[1]

    def at_word(self, *words: str) -> bool:
        tok = self.peek()
        return tok is not None and tok[0] == "word" and tok[1].lower() in words


class _Parser(Tokens):
    def __init__(self, text: str, props: Mapping[str, Prop], resource: str) -> None:
        super().__init__(text, _TOKEN)
        self.props = {k.lower(): (k, v) for k, v in props.items()}
        self.resource = resource
        self.advanced: list[str] = []

    def parse(self) -> Predicate:
        pred = self.or_expr()
        if self.peek() is not None:
            raise self.invalid()
        return pred

    def or_expr(self) -> Predicate:
        return self._joined("or", self.and_expr, any)

    def and_expr(self) -> Predicate:
        return self._joined("and", self.unary, all)

    def _joined(self, word: str, operand: Callable[[], Predicate],
                combine: Callable[[Iterable[bool]], bool]) -> Predicate:
        parts = [operand()]
        while self.at_word(word):
            self.i += 1
            parts.append(operand())
        if len(parts) == 1:
            return parts[0]
        return lambda r: combine(p(r) for p in parts)

    def unary(self) -> Predicate:
        if self.at_word("not"):
            self.i += 1
            self.advanced.append("not")
            inner = self.unary()
            return lambda r: not inner(r)
        tok = self.peek()
        if tok == ("punct", "("):
            self.i += 1
            inner = self.or_expr()
            self.take("punct", ")")
            return inner
        if self.at_word("startswith", "endswith"):
            return self.function()
        return self.comparison()

    def prop(self) -> tuple[str, Prop]:
        name = self.take("word")
        found = self.props.get(name.lower())
        if found is None:
            raise unsupported(
                f"Unsupported or invalid query filter clause specified for property '{name}' "
                f"of resource '{self.resource}'."
            )
        return found

    def literal(self, prop: Prop) -> Any:
        tok = self.peek()
        if tok is None:
            raise self.invalid()
        self.i += 1
        kind, text = tok
        if kind == "str":
            value = text[1:-1].replace("''", "'")
            return normalise_datetime(value) if prop.kind == "datetime" else value.lower()
        if kind == "dt" and prop.kind == "datetime":
            return normalise_datetime(text)
        if kind == "guid":
            return text.lower()
        if kind == "word" and text.lower() in ("true", "false") and prop.kind == "bool":
            return text.lower() == "true"
        if kind == "word" and text.lower() == "null":
            return None
        if kind == "num":
            return text
        raise self.invalid()

    def function(self) -> Predicate:
        fn = self.take("word").lower()
        if fn == "endswith":
            self.advanced.append("endsWith")
        self.take("punct", "(")
        name, prop = self.prop()
        self.take("punct", ",")
        value = self.literal(prop)
        self.take("punct", ")")
        if prop.kind not in ("str", "guid") or not isinstance(value, str):
            raise unsupported(f"Unsupported or invalid query filter clause specified for property '{name}' of resource '{self.resource}'.")
        get = prop.get
        if fn == "startswith":
            return lambda r: (v := get(r)) is not None and v.lower().startswith(value)
        return lambda r: (v := get(r)) is not None and v.lower().endswith(value)

    def comparison(self) -> Predicate:
        _name, prop = self.prop()
        op = self.take("word").lower()
        if op == "in":
            self.advanced.append("in")
            self.take("punct", "(")
            values = {self.literal(prop)}
            while self.peek() == ("punct", ","):
                self.i += 1
                values.add(self.literal(prop))
            self.take("punct", ")")
            get = prop.get
            lower = prop.kind in ("str", "guid")
            return lambda r: ((v.lower() if lower and (v := get(r)) is not None else get(r)) in values)
        if op not in _COMPARISONS:
            raise self.invalid()
        if op == "ne":
            self.advanced.append("ne")
        value = self.literal(prop)
        return _compare(prop, op, value)


def _compare(prop: Prop, op: str, value: Any) -> Predicate:
    get = prop.get
    read: Callable[[Any], Any] = get
    if prop.kind in ("str", "guid") and isinstance(value, str):
        def read(r: Any) -> Any:
            v = get(r)
            return v.lower() if isinstance(v, str) else v
    if op == "eq":
        return lambda r: read(r) == value
    if op == "ne":
        return lambda r: read(r) != value
    if value is None:
        return lambda r: False

    def ordered(check: Callable[[Any], bool]) -> Predicate:
        return lambda r: (v := read(r)) is not None and check(v)

    if op == "gt":
        return ordered(lambda v: v > value)
    if op == "ge":
        return ordered(lambda v: v >= value)
    if op == "lt":
        return ordered(lambda v: v < value)
    return ordered(lambda v: v <= value)


def compile_filter(text: str, props: Mapping[str, Prop], resource: str) -> CompiledFilter:
    parser = _Parser(text, props, resource)
    predicate = parser.parse()
    reason = parser.advanced[0] if parser.advanced else ""
    return CompiledFilter(predicate, bool(parser.advanced), reason)


def advanced_refusal(reason: str) -> GraphError:
    return unsupported(
        f"Operator '{reason}' is not supported because the 'ConsistencyLevel:eventual' header is "
        "missing. Refer to https://aka.ms/graph-docs/advanced-queries for more information"
    )


def parse_top(query: Mapping[str, str], default: int, maximum: int = 999) -> int:
    raw = query.get("$top")
    if raw is None:
        return default
    try:
        top = int(raw)
    except ValueError:
        raise bad_request(f"Invalid value '{raw}' for $top query option found.") from None
    if not 1 <= top <= maximum:
        raise unsupported(
            f"Invalid page size specified: '{top}'. Must be between 1 and {maximum} inclusive."
        )
    return top


def parse_select(query: Mapping[str, str], known: Mapping[str, object], type_name: str) -> list[str] | None:
    raw = query.get("$select")
    if raw is None:
        return None
    lowered = {k.lower(): k for k in known}
    out: list[str] = []
    for name in (p.strip() for p in raw.split(",")):
        if not name:
            continue
        canonical = lowered.get(name.lower())
        if canonical is None:
            raise bad_request(f"Could not find a property named '{name}' on type '{type_name}'.")
        if canonical not in out:
            out.append(canonical)
    return out


_EXPAND = re.compile(r"^\s*([A-Za-z]+)\s*(?:\((.*)\))?\s*$")


def parse_expand(query: Mapping[str, str]) -> tuple[str, dict[str, str]] | None:
    """`$expand=manager($select=id,displayName)` -> ("manager", {"$select": "id,displayName"})."""
    raw = query.get("$expand")
    if raw is None:
        return None
    m = _EXPAND.match(raw)
    if not m:
        raise bad_request(f"Invalid $expand clause '{raw}'.")
    options: dict[str, str] = {}
    for part in (m.group(2) or "").split(";"):
        if "=" in part:
            k, v = part.split("=", 1)
            options[k.strip()] = v.strip()
    return m.group(1), options
