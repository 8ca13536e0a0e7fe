"""The `$filter` and `$orderby` language of `/auditLogs/signIns`, with Graph's refusals.

The sign-in log is not a directory listing: there is no "advanced query" mode, `createdDateTime`
takes `eq`, `ge`, `gt`, `le` and `lt`, other properties `eq` (and `startswith` on names), and on
`/beta` the event-type lambda `signInEventTypes/any(t: t eq 'nonInteractiveUser')` chooses which
logs are read. A parsed filter says three things: the time range its top-level `and` pins
(so the walk visits only those hours), the event types it can match, and a predicate for the
rest.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from entrasim.odata import GraphError, Tokens, bad_request, unsupported
from entrasim.sign_ins import EVENT_TYPES, INTERACTIVE, SignIn

Node = tuple[Any, ...]
Predicate = Callable[[SignIn], bool]

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')"
    r"|(?P<dt>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)"
    r"|(?P<num>-?\d+(?:\.\d+)?)|(?P<punct>[(),:])|(?P<word>[A-Za-z_][A-Za-z0-9_/.]*))"
)
_COMPARISONS = ("eq", "ne", "gt", "ge", "lt", "le")
# property -> kind; read through SignIn.value (a test's override wins)
_PROPS: dict[str, str] = {
    "createdDateTime": "datetime", "id": "str", "userId": "str", "appId": "str",
    "userPrincipalName": "str", "userDisplayName": "str", "appDisplayName": "str",
    "correlationId": "str", "ipAddress": "str", "clientAppUsed": "str",
    "conditionalAccessStatus": "str", "resourceId": "str", "resourceDisplayName": "str",
    "status/errorCode": "int", "isInteractive": "bool",
}
_STARTSWITH = frozenset({"appDisplayName", "userDisplayName", "userPrincipalName", "resourceDisplayName"})
_LOWER = {k.lower(): k for k in _PROPS}


@dataclass(frozen=True, slots=True)
class SignInQuery:
    kinds: tuple[int, ...]
    lo: float | None  # epoch seconds, inclusive
    hi: float | None
    predicate: Predicate | None


def parse_datetime(text: str) -> float:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise bad_request(f"The DateTimeOffset literal '{text}' is not valid.") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


class _Parser(Tokens):
    def __init__(self, text: str, beta: bool) -> None:
        super().__init__(text, _TOKEN)
        self.beta = beta

    def parse(self) -> Node:
        node = self.or_expr()
        if self.peek() is not None:
            raise self.invalid()
        return node

    def or_expr(self) -> Node:
        return self._joined("or", self.and_expr)

    def and_expr(self) -> Node:
        return self._joined("and", self.unary)

    def _joined(self, word: str, operand: Callable[[], Node]) -> Node:
        parts = [operand()]
        while self.at_word(word):
            self.i += 1
            parts.append(operand())
        return parts[0] if len(parts) == 1 else (word, parts)

    def unary(self) -> Node:
        if self.at_word("not"):
            self.i += 1
            return ("not", self.unary())
        if self.peek() == ("punct", "("):
            self.i += 1
            inner = self.or_expr()
            self.take("punct", ")")
            return inner
        if self.at_word("startswith"):
            self.i += 1
            self.take("punct", "(")
            name = self.prop()
            self.take("punct", ",")
            value = self.literal(name)
            self.take("punct", ")")
            if name not in _STARTSWITH or not isinstance(value, str):
                raise self.unsupported_prop(name)
            return ("startswith", name, value)
        if self.at_word("signineventtypes/any"):
            return self.event_types()
        name = self.prop()
        op = self.take("word").lower()
        if op not in _COMPARISONS:
            raise self.invalid()
        if op != "eq" and _PROPS[name] != "datetime" and not (op == "ne" and _PROPS[name] in ("str", "int", "bool")):
            raise unsupported(f"Operator '{op}' is not supported for property '{name}'.")
        return ("cmp", name, op, self.literal(name))

    def event_types(self) -> Node:
        word = self.take("word")
        if not self.beta:
            raise bad_request(f"Could not find a property named '{word.split('/')[0]}' on type 'microsoft.graph.signIn'.")
        self.take("punct", "(")
        var = self.take("word")
        self.take("punct", ":")
        if self.take("word") != var:
            raise self.invalid()
        op = self.take("word").lower()
        if op not in ("eq", "ne"):
            raise self.invalid()
        value = self.take("str")[1:-1]
        if value not in EVENT_TYPES:
            raise bad_request(f"The value '{value}' is not a valid signInEventType.")
        self.take("punct", ")")
        return ("types", op, value)

    def prop(self) -> str:
        word = self.take("word")
        name = _LOWER.get(word.lower())
        if name is None:
            raise self.unsupported_prop(word)
        return name

    def unsupported_prop(self, name: str) -> GraphError:
        return unsupported(f"Unsupported or invalid query filter clause specified for property '{name}' of resource 'SignIn'.")

    def literal(self, name: str) -> Any:
        kind, text = self.peek() or ("", "")
        if not kind:
            raise self.invalid()
        self.i += 1
        expected = _PROPS[name]
        if expected == "datetime":
            if kind == "dt":
                return parse_datetime(text)
            if kind == "str":
                return parse_datetime(text[1:-1])
        elif expected == "str" and kind == "str":
            return text[1:-1].replace("''", "'").lower()
        elif expected == "int" and kind == "num" and "." not in text:
            return int(text)
        elif expected == "bool" and kind == "word" and text.lower() in ("true", "false"):
            return text.lower() == "true"
        raise bad_request(f"A binary operator with incompatible types was detected for property '{name}'.")


def _compile(node: Node) -> Predicate:
    tag = node[0]
    if tag in ("and", "or"):
        parts = [_compile(n) for n in node[1]]
        if tag == "and":
            return lambda r: all(p(r) for p in parts)
        return lambda r: any(p(r) for p in parts)
    if tag == "not":
        inner = _compile(node[1])
        return lambda r: not inner(r)
    if tag == "types":
        _, op, value = node
        kind = EVENT_TYPES.index(value)
        return (lambda r: r.kind == kind) if op == "eq" else (lambda r: r.kind != kind)
    if tag == "startswith":
        _, name, prefix = node
        return lambda r: isinstance(v := r.value(name), str) and v.lower().startswith(prefix)
    _, name, op, value = node
    if name == "createdDateTime":
        return _time_compare(op, value)
    if name == "status/errorCode":
        def read(r: SignIn) -> Any:
            status = r.value("status")
            return status.get("errorCode") if isinstance(status, dict) else None
    elif _PROPS[name] == "str":
        def read(r: SignIn) -> Any:
            v = r.value(name)
            return v.lower() if isinstance(v, str) else v
    else:
        def read(r: SignIn) -> Any:
            return r.value(name)
    if op == "eq":
        return lambda r: read(r) == value
    return lambda r: read(r) != value


def _time_compare(op: str, value: float) -> Predicate:
    checks: dict[str, Callable[[float], bool]] = {
        "eq": lambda t: t == value, "ne": lambda t: t != value, "gt": lambda t: t > value,
        "ge": lambda t: t >= value, "lt": lambda t: t < value, "le": lambda t: t <= value,
    }
    check = checks[op]
    return lambda r: check(_ts(r))


def _ts(r: SignIn) -> float:
    return float(r.ts)


def _about_types(node: Node, combine: Callable[[Iterable[bool]], bool]) -> bool:
    """Whether event-type clauses are in the filter (`any`) or all it is made of (`all`)."""
    if node[0] in ("and", "or"):
        return combine(_about_types(n, combine) for n in node[1])
    if node[0] == "not":
        return _about_types(node[1], combine)
    return bool(node[0] == "types")


class _KindProbe:
    """Stands in for a record when deciding which event types a type-only clause admits."""

    def __init__(self, kind: int) -> None:
        self.kind = kind


def parse_filter(text: str | None, *, beta: bool) -> SignInQuery:
    """`$filter` -> which logs to read, the pinned time range and a predicate for the rest."""
    if not text or not text.strip():
        return SignInQuery((INTERACTIVE,), None, None, None)
    node = _Parser(text, beta).parse()
    conjuncts = list(node[1]) if node[0] == "and" else [node]
    lo: float | None = None
    hi: float | None = None
    kinds = list(range(len(EVENT_TYPES))) if _about_types(node, any) else [INTERACTIVE]
    rest: list[Node] = []
    for c in conjuncts:
        if c[0] == "cmp" and c[1] == "createdDateTime" and c[2] in ("ge", "gt", "le", "lt", "eq"):
            op, value = c[2], c[3]
            if op in ("ge", "gt", "eq"):
                bound = float(int(value) + 1) if op == "gt" and value == int(value) else value
                lo = bound if lo is None else max(lo, bound)
            if op in ("le", "lt", "eq"):
                bound = float(int(value) - 1) if op == "lt" and value == int(value) else value
                hi = bound if hi is None else min(hi, bound)
        elif _about_types(c, all):
            probe = _compile(c)
            kinds = [k for k in kinds if probe(_KindProbe(k))]  # type: ignore[arg-type]
        else:
            rest.append(c)
    predicate = _compile(("and", rest)) if rest else None
    return SignInQuery(tuple(kinds), lo, hi, predicate)


def parse_orderby(text: str | None) -> bool:
    """True for ascending. Only `createdDateTime` (asc or desc) can be ordered on."""
    if text is None or not text.strip():
        return False
    parts = text.split()
    if parts[0].lower() != "createddatetime" or len(parts) > 2:
        raise bad_request(f"Sorting by '{parts[0]}' is not supported for 'signIns'.")
    direction = parts[1].lower() if len(parts) == 2 else "asc"
    if direction not in ("asc", "desc"):
        raise bad_request(f"Invalid $orderby direction '{parts[1]}'.")
    return direction == "asc"
