"""Reading a configuration: JSON file or mapping, environment fallbacks for secrets, and error
messages that name every bad key and never carry a secret (the raw input stays out of them).
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, get_args

from pydantic import (
    BaseModel,
    ValidationError,
)
from pydantic_core import ErrorDetails

from connector.config.files import read_small_file
from connector.config.settings import (
    ENV_FALLBACKS,
    KeyProblem,
    Settings,
    credential_rules,
    intake_rules,
)
from connector.errors import ConfigError


def load_settings(
    source: str | os.PathLike[str] | Mapping[str, Any], env: Mapping[str, str] | None = None
) -> Settings:
    """Validates a configuration (JSON file path or mapping) and applies environment fallbacks.

    Raises ConfigError listing every bad key. Relative paths inside a file are resolved against
    the file's folder. `env` defaults to the process environment.
    """
    where: str | None = None
    base_dir: Path | None = None
    if isinstance(source, Mapping):
        data = dict(source)
    else:
        path = Path(source)
        where, base_dir = str(path), path.absolute().parent
        data = _read_json_object(path)
    data = _with_env(data, os.environ if env is None else env)
    try:
        return Settings.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        # `from None`: the ValidationError holds the raw inputs, secrets included.
        raise ConfigError(_report(exc, data), source=where) from None


class _DuplicateKey(Exception):
    pass


def _read_json_object(path: Path) -> dict[str, Any]:
    def fail(message: str) -> ConfigError:
        return ConfigError([("", message)], source=str(path))

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for key, value in items:
            if key in seen:
                raise _DuplicateKey(key)
            seen[key] = value
        return seen

    def constant(name: str) -> Any:
        raise ValueError(f"{name} is not a JSON number")

    try:
        text = read_small_file(path).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise fail("not UTF-8 text") from None
    except ValueError as exc:
        raise fail(str(exc)) from None
    try:
        data = json.loads(text, object_pairs_hook=pairs, parse_constant=constant)
    except json.JSONDecodeError as exc:
        raise fail(f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except _DuplicateKey as exc:
        raise fail(f"the key {json.dumps(exc.args[0])} appears twice in one object") from None
    except RecursionError:
        raise fail("not valid JSON: nested too deeply") from None
    except ValueError as exc:  # NaN, Infinity, integers beyond Python's digit limit
        raise fail(f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise fail("must contain a JSON object")
    return data


def _with_env(data: dict[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    for fallback in ENV_FALLBACKS:
        value = env.get(fallback.variable)
        if not value or not fallback.applies(data):
            continue
        *parents, leaf = fallback.path
        target = data
        for parent in parents:  # copied, so the caller's mapping is left as it was
            target[parent] = target = dict(target[parent])
        if target.get(leaf) is None:
            target[leaf] = value
    return data


def _report(exc: ValidationError, data: Mapping[str, Any]) -> list[tuple[str, str]]:
    errors = [(_path(e), _message(e)) for e in exc.errors(include_url=False, include_input=False)]
    intake = data.get("intake")
    rules = credential_rules(
        *(
            data.get(k) is not None
            for k in ("client_secret", "certificate_path", "certificate_password")
        )
    )
    if isinstance(intake, Mapping):
        rules += [
            (f"intake.{key}", message)
            for key, message in intake_rules(
                intake.get("format"),
                intake.get("connector_uuid") is not None,
                intake.get("api_key") is not None,
            )
        ]
    reported = {field for field, _ in errors}
    return errors + [(field, message) for field, message in rules if field not in reported]


def _path(error: ErrorDetails) -> str:
    text = ""
    for part in error["loc"]:
        if isinstance(part, int):
            text += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", part):
            text += f".{part}" if text else part
        else:  # a key that would be ambiguous or unprintable as-is: "", "a.b", "x\ny"
            text += f"[{json.dumps(part)}]"
    problem = error.get("ctx", {}).get("error")
    if isinstance(problem, KeyProblem):
        text += f".{problem.key}" if text else problem.key
    return text


_MESSAGES: Final[Mapping[str, str]] = {
    "missing": "is required",
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "bool_type": "must be true or false",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "dict_type": "must be an object",
    "tuple_type": "must be a list",
    "list_type": "must be a list",
    "path_type": "must be a file path",
    "uuid_type": "must be a UUID",
    "uuid_parsing": "must be a UUID",
    "uuid_version": "must be a UUID",
    "invalid_key": "keys must be strings",
}


def _message(error: ErrorDetails) -> str:
    kind, ctx = error["type"], error.get("ctx", {})
    if kind == "value_error" and isinstance(ctx.get("error"), ValueError):
        return str(ctx["error"])
    if kind in _MESSAGES:
        return _MESSAGES[kind]
    if kind == "greater_than_equal":
        return f"must be at least {ctx['ge']}"
    if kind == "less_than_equal":
        return f"must be at most {ctx['le']}"
    if kind == "literal_error":
        return f"must be one of {ctx['expected']}"
    if kind == "extra_forbidden":
        return "unknown key" + _suggestion(error["loc"])
    return "is not valid"


def _block_model(model: type[BaseModel], key: int | str) -> type[BaseModel]:
    """The model of a settings block (`sign_ins`, `devices`, `intake`), else `model` itself."""
    field = model.model_fields.get(str(key))
    for candidate in (field.annotation, *get_args(field.annotation)) if field else ():
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return model


def _suggestion(loc: tuple[int | str, ...]) -> str:
    model: type[BaseModel] = Settings
    for part in loc[:-1]:
        model = _block_model(model, part)
    close = difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""

