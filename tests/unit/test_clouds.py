"""National clouds: login and Graph hosts chosen together, overrides applied on top."""

from __future__ import annotations

from typing import Any, get_args

import pytest

from connector.clouds import CLOUDS, Cloud, resolve
from connector.config import CloudName, Settings, load_settings

GUID = "11111111-2222-3333-4444-555555555555"


def settings(**changes: Any) -> Settings:
    return load_settings(
        {"tenant_id": GUID, "client_id": GUID, "client_secret": "s", **changes}, env={}
    )


@pytest.mark.parametrize(
    ("name", "login", "graph"),
    [
        ("global", "https://login.microsoftonline.com", "https://graph.microsoft.com"),
        ("usgov", "https://login.microsoftonline.us", "https://graph.microsoft.us"),
        ("usgov-dod", "https://login.microsoftonline.us", "https://dod-graph.microsoft.us"),
        ("china", "https://login.chinacloudapi.cn", "https://microsoftgraph.chinacloudapi.cn"),
    ],
)
def test_each_cloud_pairs_its_login_and_graph_hosts(name: str, login: str, graph: str) -> None:
    assert resolve(settings(cloud=name)) == Cloud(name, login, graph)
    assert CLOUDS[name].scope == f"{graph}/.default"  # type: ignore[index]


def test_every_configurable_cloud_has_an_entry() -> None:
    assert set(CLOUDS) == set(get_args(CloudName))


def test_default_cloud_is_global() -> None:
    assert resolve(settings()) == CLOUDS["global"]


def test_cloud_hosts_are_accepted_as_overrides_unchanged() -> None:
    for cloud in CLOUDS.values():
        overridden = resolve(
            settings(authority_host=cloud.authority_host, graph_endpoint=cloud.graph_endpoint)
        )
        assert (overridden.authority_host, overridden.graph_endpoint) == (
            cloud.authority_host,
            cloud.graph_endpoint,
        )


def test_authority_override_keeps_the_clouds_graph() -> None:
    cloud = resolve(settings(cloud="usgov", authority_host="https://127.0.0.1:8443/"))
    assert cloud == Cloud("usgov", "https://127.0.0.1:8443", "https://graph.microsoft.us")


def test_graph_override_moves_the_scope_with_it() -> None:
    cloud = resolve(settings(graph_endpoint="https://127.0.0.1:8443/v1.0"))
    assert cloud.graph_endpoint == "https://127.0.0.1:8443"
    assert cloud.scope == "https://127.0.0.1:8443/.default"
    assert cloud.authority_host == CLOUDS["global"].authority_host


def test_scope_is_the_graph_origin_even_behind_a_path_prefix() -> None:
    assert resolve(settings(graph_endpoint="https://proxy.example/graph")).scope == (
        "https://proxy.example/.default"
    )


def test_cloud_table_cannot_be_modified() -> None:
    with pytest.raises(TypeError):
        CLOUDS["global"] = CLOUDS["china"]  # type: ignore[index]
