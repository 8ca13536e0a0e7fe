"""Validation of emitted events against the bundled OCSF 1.8.0 schema of their class.

Each event is checked against the schema of its `class_uid`: User Inventory Info (5003, no
profiles), Device Inventory Info (5001, no profiles), Authentication (3002, generated with the
`host` and `security_control` profiles, the only ones the connector's 3002 events may declare),
or the directory audit classes Account Change (3001), Entity Management (3004), User Access
Management (3005) and Group Management (3006), none with profiles.
An NDJSON file may mix the classes.

The JSON Schema catches structure, types, enums and unknown keys; it cannot see that a caption
disagrees with its id, that `type_uid` is not `class_uid * 100 + activity_id`, that
`metadata.version` names another release, or that a value is an empty placeholder. Those are
checked here too, so `validate` reports everything a consumer would trip over.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Final

import orjson
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from connector.ocsf import device_inventory as dev
from connector.ocsf.user_inventory import (
    ACCOUNT_TYPE_CAPTIONS,
    OCSF_VERSION,
    RISK_LEVEL_CAPTIONS,
    USER_TYPE_CAPTIONS,
)
from connector.streams import registry

__all__ = [
    "RISK_LEVEL_CAPTIONS",
    "SCHEMA_RESOURCE",
    "EventValidator",
    "LineError",
    "NdjsonReport",
    "load_schema",
    "validate_ndjson",
]

#: The packaged schemas, relative to the `connector` package, by class_uid: each stream's (the
#: stream registry names its class and schema; a stream of several classes, the directory
#: audits, names them in its mapping module's `SCHEMA_RESOURCES`).
SCHEMA_RESOURCE: Final = registry.get("users").schema
_SINGLE: Final = tuple(spec for spec in registry.STREAMS if not spec.classes)
_MULTI: Final = tuple(registry.mapping_module(spec) for spec in registry.STREAMS if spec.classes)
SCHEMA_RESOURCES: Final[Mapping[int, str]] = {
    **{spec.class_uid: spec.schema for spec in _SINGLE},
    **{uid: schema for module in _MULTI for uid, schema in module.SCHEMA_RESOURCES.items()},
}
#: Profiles each bundled schema was generated with (see schemas/PROVENANCE.md).
SCHEMA_PROFILES: Final[Mapping[int, frozenset[str]]] = {
    **{spec.class_uid: frozenset(spec.profiles) for spec in _SINGLE},
    **{uid: frozenset() for module in _MULTI for uid in module.SCHEMA_RESOURCES},
}

_OTHER: Final = 99  # an "Other" id lets the source choose the caption
_MAX_MESSAGE: Final = 300
# (id key, caption key, captions) checked on the event itself, by class: each class module's
# `EVENT_CAPTIONS`, and the attributes of its profiles (`PROFILE_ATTRIBUTES`, when it has any).
# A class two streams emit (5003: people and workload identities) is checked with the first
# stream's module.
_CLASS_MODULES: Final = {spec.class_uid: registry.mapping_module(spec) for spec in reversed(_SINGLE)}
_EVENT_CAPTIONS: Final[Mapping[int, tuple[tuple[str, str, Mapping[int, str]], ...]]] = {
    **{uid: module.EVENT_CAPTIONS for uid, module in _CLASS_MODULES.items()},
    **{uid: checks for module in _MULTI for uid, checks in module.CAPTION_CHECKS.items()},
}
_PROFILE_ATTRIBUTES: Final[Mapping[int, Mapping[str, frozenset[str]]]] = {
    uid: getattr(module, "PROFILE_ATTRIBUTES", {}) for uid, module in _CLASS_MODULES.items()}
# Every official caption (the 3002 table lists only the ids its mapping emits).
_DEVICE_CAPTIONS: Final = (("type_id", "type", dev.DEVICE_TYPE_CAPTIONS),)
_OS_CAPTIONS: Final = (("type_id", "type", dev.OS_TYPE_CAPTIONS),)
# ... and on every user object (the user and its manager).
_USER_CAPTIONS: Final = (
    ("type_id", "type", USER_TYPE_CAPTIONS),
    ("risk_level_id", "risk_level", RISK_LEVEL_CAPTIONS),
)
_ACCOUNT_CAPTIONS: Final = (("type_id", "type", ACCOUNT_TYPE_CAPTIONS),)

Problem = tuple[str, str]


@lru_cache(maxsize=4)
def load_schema(class_uid: int = 5003) -> Mapping[str, Any]:
    """The OCSF 1.8.0 JSON Schema of `class_uid` shipped inside the package."""
    resource = SCHEMA_RESOURCES[class_uid]
    text = resources.files("connector").joinpath(resource).read_text(encoding="utf-8")
    schema: Mapping[str, Any] = json.loads(text)
    return schema


def _json_path(parts: Iterable[str | int]) -> str:
    out = ["$"]
    for part in parts:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif part.isidentifier():
            out.append(f".{part}")
        else:
            out.append(f"[{json.dumps(part)}]")
    return "".join(out)


def _message(error: ValidationError) -> str:
    options = error.validator_value
    if (
        error.validator == "anyOf"
        and isinstance(options, list)
        and all(isinstance(option, Mapping) and set(option) == {"required"} for option in options)
    ):
        names = [name for option in options for name in option["required"]]
        return "needs at least one of: " + ", ".join(names)
    message = error.message
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 1] + "…"
    return message


def _caption_problems(
    obj: Mapping[str, Any],
    path: str,
    checks: Sequence[tuple[str, str, Mapping[int, str]]],
) -> Iterator[Problem]:
    for id_key, caption_key, captions in checks:
        ident = obj.get(id_key)
        caption = obj.get(caption_key)
        if type(ident) is not int or not isinstance(caption, str) or ident == _OTHER:
            continue
        expected = captions.get(ident)
        if expected is not None and caption != expected:
            yield (
                f"{path}.{caption_key}",
                f"{caption!r} does not match {id_key} {ident} (expected {expected!r})",
            )


def _user_problems(user: Any, path: str) -> Iterator[Problem]:
    if not isinstance(user, Mapping):
        return
    yield from _caption_problems(user, path, _USER_CAPTIONS)
    account = user.get("account")
    if isinstance(account, Mapping):
        yield from _caption_problems(account, f"{path}.account", _ACCOUNT_CAPTIONS)
    person = user.get("ldap_person")
    if isinstance(person, Mapping):
        yield from _user_problems(person.get("manager"), f"{path}.ldap_person.manager")


def _empty_problems(value: Any, parts: tuple[str | int, ...] = ()) -> Iterator[Problem]:
    if isinstance(value, str):
        if not value.strip():
            yield _json_path(parts), "empty placeholder string"
    elif isinstance(value, Mapping):
        if not value:
            yield _json_path(parts), "empty placeholder object"
        for key, item in value.items():
            yield from _empty_problems(item, (*parts, str(key)))
    elif isinstance(value, list):
        if not value:
            yield _json_path(parts), "empty placeholder list"
        for index, item in enumerate(value):
            yield from _empty_problems(item, (*parts, index))


def _profile_problems(event: Mapping[str, Any], class_uid: int) -> Iterator[Problem]:
    """Profile attributes need their profile declared; declared profiles need a bundled schema."""
    metadata = event.get("metadata")
    declared = metadata.get("profiles") if isinstance(metadata, Mapping) else None
    names = {p for p in declared if isinstance(p, str)} if isinstance(declared, list) else set()
    for profile in sorted(names - SCHEMA_PROFILES.get(class_uid, frozenset())):
        yield ("$.metadata.profiles",
               f"profile {profile!r} is not one the bundled class {class_uid} schema covers")
    for profile, attributes in _PROFILE_ATTRIBUTES.get(class_uid, {}).items():
        if profile in names:
            continue
        for key in sorted(attributes.intersection(event)):
            yield f"$.{key}", f"belongs to the {profile!r} profile, not declared in metadata.profiles"


def _device_problems(device: Any) -> Iterator[Problem]:
    if not isinstance(device, Mapping):
        return
    yield from _caption_problems(device, "$.device", _DEVICE_CAPTIONS)
    os_info = device.get("os")
    if isinstance(os_info, Mapping):
        yield from _caption_problems(os_info, "$.device.os", _OS_CAPTIONS)


def _semantic_problems(event: Mapping[str, Any]) -> Iterator[Problem]:
    class_uid = event.get("class_uid")
    class_uid = class_uid if type(class_uid) is int else 0
    yield from _caption_problems(event, "$", _EVENT_CAPTIONS.get(class_uid, ()))
    yield from _profile_problems(event, class_uid)
    device = event.get("device")  # any class: the device object's own vocabulary
    yield from _device_problems(device)
    if isinstance(device, Mapping):
        yield from _user_problems(device.get("owner"), "$.device.owner")
    class_uid, activity_id, type_uid = (
        event.get("class_uid"),
        event.get("activity_id"),
        event.get("type_uid"),
    )
    if type(class_uid) is int and type(activity_id) is int and type(type_uid) is int:
        expected = class_uid * 100 + activity_id
        if type_uid != expected:
            yield "$.type_uid", f"{type_uid} is not class_uid * 100 + activity_id ({expected})"
    metadata = event.get("metadata")
    if isinstance(metadata, Mapping):
        version = metadata.get("version")
        if isinstance(version, str) and version != OCSF_VERSION:
            yield "$.metadata.version", f"{version!r} is not the schema's version {OCSF_VERSION!r}"
    yield from _user_problems(event.get("user"), "$.user")
    yield from _empty_problems(event)


class EventValidator:
    """Checks events against the OCSF 1.8.0 schema of their class and the rules it cannot express.

    Build one and reuse it: each class's schema is loaded and its validator built once. With a
    `schema`, every event is checked against that one schema instead.
    """

    __slots__ = ("_fixed", "_validators")

    def __init__(self, schema: Mapping[str, Any] | None = None) -> None:
        self._fixed = Draft202012Validator(schema) if schema is not None else None
        self._validators: dict[int, Draft202012Validator] = {}

    def _validator(self, event: Any) -> Draft202012Validator:
        if self._fixed is not None:
            return self._fixed
        class_uid = event.get("class_uid") if isinstance(event, Mapping) else None
        if type(class_uid) is not int or class_uid not in SCHEMA_RESOURCES:
            class_uid = 5003  # the first class this connector emitted: its errors say the most
        validator = self._validators.get(class_uid)
        if validator is None:
            validator = self._validators[class_uid] = Draft202012Validator(load_schema(class_uid))
        return validator

    def errors(self, event: Any) -> list[Problem]:
        """Every problem as (JSON path such as `$.user.account.type_id`, message), sorted."""
        validator = self._validator(event)
        problems = [
            (_json_path(error.absolute_path), _message(error))
            for error in validator.iter_errors(event)
        ]
        if isinstance(event, Mapping):
            problems.extend(_semantic_problems(event))
        problems.sort()
        return problems

    def is_valid(self, event: Any) -> bool:
        return not self.errors(event)


@dataclass(frozen=True, slots=True)
class LineError:
    line: int  # 1-based physical line number
    path: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.path}: {self.message}"


@dataclass(slots=True)
class NdjsonReport:
    """What `validate` prints: how many events were read, how many passed, and every problem."""

    events: int = 0  # non-blank lines
    valid: int = 0
    errors: list[LineError] = field(default_factory=list)

    @property
    def invalid(self) -> int:
        return self.events - self.valid

    @property
    def ok(self) -> bool:
        return not self.errors


def _lines(source: str | os.PathLike[str] | Iterable[str | bytes]) -> Iterator[str | bytes]:
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as handle:
            yield from handle
    else:
        yield from source


def validate_ndjson(
    source: str | os.PathLike[str] | Iterable[str | bytes],
    *,
    validator: EventValidator | None = None,
) -> NdjsonReport:
    """Validate one event per line; a path (str or PathLike) is read, anything else iterated.

    Blank lines are skipped but still counted for line numbers. Streams, so a large file is
    never held in memory.
    """
    checker = validator if validator is not None else EventValidator()
    report = NdjsonReport()
    for number, raw in enumerate(_lines(source), start=1):
        if not raw.strip():
            continue
        report.events += 1
        try:
            event = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            report.errors.append(LineError(number, "$", f"not valid JSON: {exc}"))
            continue
        problems = checker.errors(event)
        if problems:
            report.errors.extend(LineError(number, path, message) for path, message in problems)
        else:
            report.valid += 1
    return report
