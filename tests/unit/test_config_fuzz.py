"""Whatever JSON arrives, `load_settings` answers with Settings or a ConfigError naming a key,
and never repeats a secret."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.config import Settings, load_settings, manifest_config_schema
from connector.errors import ConfigError

SENTINEL = "Zq7-SENTINEL-secret-9xK"
SECRET_KEYS = set(manifest_config_schema()["secrets"])

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
guids = st.uuids().map(str)
plausible: dict[str, st.SearchStrategy[Any]] = {
    "tenant_id": guids | st.sampled_from(["contoso.onmicrosoft.com", "x", ""]),
    "client_id": guids,
    "cloud": st.sampled_from(["global", "usgov", "usgov-dod", "china", "mars"]),
    "authority_host": st.sampled_from(
        ["https://login.example", "http://login.example", "https://"]
    ),
    "graph_endpoint": st.sampled_from(
        ["https://g.example/v1.0", "https://g.example/beta", "ftp://g"]
    ),
    "ca_bundle": st.sampled_from(["/nonexistent/ca.pem", "/", "relative.pem"]),
    "certificate_path": st.sampled_from(["/nonexistent/c.pem", "/etc/hostname", "\x00"]),
    "domains": st.lists(st.sampled_from(["contoso.com", "bad", "A.B.C.example"]), max_size=3),
    "page_size": st.integers(min_value=-2, max_value=1001),
    "intake": st.fixed_dictionaries(
        {"url": st.sampled_from(["https://i.example", "http://127.0.0.1:1/", "http://i.example"])},
        optional={
            "format": st.sampled_from(["ndjson", "sekoia", "xml"]),
            "connector_uuid": guids | st.text(max_size=5),
            "api_key": st.just(SENTINEL) | json_values,
            "batch_size": st.integers(min_value=-1, max_value=10_001),
            "gzip": json_values,
        },
    ),
}
secret_values = (
    st.just(SENTINEL) | st.builds(lambda v: f"{v}{SENTINEL}", st.text(max_size=5)) | json_values
)


def value_for(key: str) -> st.SearchStrategy[Any]:
    if key in SECRET_KEYS:
        return secret_values
    return plausible.get(key, st.nothing()) | json_values


random_configs = st.fixed_dictionaries(
    {}, optional={key: value_for(key) for key in Settings.model_fields}
).flatmap(
    lambda known: st.dictionaries(st.text(max_size=12), json_values, max_size=2).map(
        lambda unknown: {**unknown, **known}
    )
)
# Mostly plausible values, so that valid configurations (and the paths past the first error)
# are exercised too, not only the rejections.
near_valid_configs = st.fixed_dictionaries(
    {"tenant_id": guids, "client_id": guids},
    optional={key: plausible[key] for key in plausible if key not in ("tenant_id", "client_id")}
    | {"include_guests": st.booleans(), "client_secret": secret_values},
)
configs = random_configs | near_valid_configs


def outcome(call: Callable[[], Settings]) -> Settings | ConfigError:
    try:
        return call()
    except ConfigError as exc:
        return exc


def assert_safe(result: Settings | ConfigError, *, keys_named: bool) -> None:
    if isinstance(result, ConfigError):
        assert result.errors, "a ConfigError must name at least one problem"
        if keys_named:
            assert all(field for field, _ in result.errors), result.errors
        assert SENTINEL not in str(result) and SENTINEL not in repr(result.errors)
    else:
        assert SENTINEL not in repr(result) and SENTINEL not in str(result)


@settings(max_examples=300, deadline=None)
@given(configs)
def test_any_mapping_gives_settings_or_a_config_error_naming_keys(data: dict[str, Any]) -> None:
    result = outcome(lambda: load_settings(data, env={"ENTRA_CLIENT_SECRET": SENTINEL}))
    assert_safe(result, keys_named=True)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(configs)
def test_any_json_file_gives_settings_or_a_config_error_naming_keys(
    tmp_path: Path, data: dict[str, Any]
) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(data))
    result = outcome(lambda: load_settings(path, env={"ENTRA_INTAKE_API_KEY": SENTINEL}))
    assert_safe(result, keys_named=True)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_file_content_gives_settings_or_a_config_error_naming_the_file(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "settings.json"
    path.write_bytes(content)
    result = outcome(lambda: load_settings(path, env={}))
    assert_safe(result, keys_named=False)
    if isinstance(result, ConfigError):
        assert str(path) in str(result)
