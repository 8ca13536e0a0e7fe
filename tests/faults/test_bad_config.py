"""A bad configuration stops `run` before any work: exit code 2 and a message naming the key.

`tests/unit/test_config_fuzz.py` fuzzes `load_settings` itself; these cases go through the
command line's `main()` (in-process, so each costs milliseconds), one kind of mistake each.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from connector import cli

SECRET = "Sentinel0ConfigSecret0v3Hs9"
VALID: dict[str, Any] = {
    "tenant_id": "11111111-2222-4333-8444-555555555555",
    "client_id": "66666666-7777-4888-9999-000000000000",
    "client_secret": SECRET,
}


def _run(config_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = cli.main(["run", "--config", str(config_path), "--state",
                     str(config_path.with_name("state.json")), "--output", "-"])
    captured = capsys.readouterr()
    assert SECRET not in captured.out + captured.err
    assert "Traceback" not in captured.err
    return code, captured.err


@pytest.fixture(autouse=True)
def quiet_logging(monkeypatch: pytest.MonkeyPatch) -> None:
    """`main()` installs its own root handler; pytest's log capture must keep its own."""
    monkeypatch.setattr(cli, "_setup_logging", lambda debug, verbose: None)


CASES: dict[str, tuple[dict[str, Any], str]] = {
    "wrong type": ({"page_size": "999"}, "page_size: must be an integer"),
    "unknown key": ({"page_sise": 10}, "page_sise: unknown key (did you mean 'page_size'?)"),
    "bad UUID": ({"intake": {"url": "https://intake.example", "format": "sekoia",
                             "connector_uuid": "not-a-uuid", "api_key": "k"}},
                 "intake.connector_uuid: must be a UUID"),
    "bad GUID": ({"client_id": "app"}, "client_id: must be a GUID"),
    "http Graph endpoint": ({"graph_endpoint": "http://graph.example"},
                            "graph_endpoint: must be an https:// URL"),
    "http intake to another host": ({"intake": {"url": "http://intake.example"}},
                                    "intake.url: must be an https:// URL"),
    "out of range": ({"retry_deadline_seconds": 0}, "retry_deadline_seconds: must be at least 1"),
    "sekoia without its key": ({"intake": {"url": "https://intake.example", "format": "sekoia",
                                           "connector_uuid": VALID["tenant_id"]}},
                               "intake.api_key: is required"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_value_exits_2_naming_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            case: str) -> None:
    change, message = CASES[case]
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**VALID, **change}))
    code, err = _run(path, capsys)
    assert code == 2
    assert message in err


@pytest.mark.parametrize("key", ["ca_bundle", "certificate_path"])
def test_a_file_that_cannot_be_read_exits_2_naming_the_key(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], key: str) -> None:
    config = {**VALID, key: str(tmp_path)}  # a directory: no file to read
    if key == "certificate_path":
        del config["client_secret"]
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    code, err = _run(path, capsys)
    assert code == 2
    assert f"{key}: is not a regular file" in err


@pytest.mark.parametrize("content", [b"{not json", b"\xff\xfe", b"[]"], ids=["syntax", "binary",
                                                                          "not an object"])
def test_a_configuration_file_that_is_not_a_json_object_exits_2_naming_the_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes) -> None:
    path = tmp_path / "config.json"
    path.write_bytes(content)
    code, err = _run(path, capsys)
    assert code == 2
    assert str(path) in err


def test_a_configuration_path_that_is_a_directory_exits_2_naming_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _run(tmp_path, capsys)
    assert code == 2
    assert str(tmp_path) in err
