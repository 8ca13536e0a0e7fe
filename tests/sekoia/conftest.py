"""Start the Sekoia.io module the way the platform does: `python main.py <command>` in the module's
folder, configured through the environment variables the SDK reads when /symphony has no file
(`MODULE_CONFIGURATION`, `CONNECTOR_CONFIGURATION`, `CONNECTOR_CONFIGURATION_UUID`, `TOKEN`,
`URL_CALLBACK`, `URL_SECRETS`, `URL_LOGS`, `LIVENESS_PORT`, `METRICS_PORT`), secrets withheld from
those and served by the local platform's secrets endpoint, as Sekoia.io does.

The SDK's data path is /symphony_data joined with `SUB_FOLDER`; an absolute `SUB_FOLDER` puts it
in the test's temporary folder instead.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.sekoia.platform import CONNECTOR_UUID, TOKEN, FakeSekoia

# Without the extra (`pip install '.[sekoia]'`) there is nothing to test here; CI installs it.
if importlib.util.find_spec("sekoia_automation") is None:
    collect_ignore_glob = ["test_*.py"]

MODULE_DIR = Path(__file__).resolve().parents[2] / "integrations" / "sekoia"
CONNECTOR = "entra_id_users_asset_connector"
VALIDATOR = "validate_module_configuration"
SECRET_KEYS = ("client_secret", "certificate_password")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Running:
    process: subprocess.Popen[bytes]
    data: Path
    output: Path

    @property
    def state(self) -> dict[str, Any] | None:
        path = self.data / "entra_id_users_state.json"
        return json.loads(path.read_text()) if path.is_file() else None

    def stop(self, timeout: float = 10.0) -> float:
        """SIGTERM, then the seconds it took to exit (fails the test past `timeout`)."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=timeout)
        return time.monotonic() - started

    def text(self) -> str:
        return self.output.read_text(errors="replace")


@pytest.fixture
def platform() -> Iterator[FakeSekoia]:
    with FakeSekoia() as running:
        yield running


StartModule = Callable[..., Running]


@pytest.fixture
def start_module(tmp_path: Path, platform: FakeSekoia) -> Iterator[StartModule]:
    started: list[Running] = []

    def start(config: dict[str, Any], *, command: str = CONNECTOR, frequency: int = 2,
              batch_size: int = 10, env: dict[str, str] | None = None,
              module_dir: Path = MODULE_DIR) -> Running:
        module_config = {k: v for k, v in config.items() if k not in SECRET_KEYS}
        platform.secrets = {k: v for k, v in config.items() if k in SECRET_KEYS}
        data = tmp_path / f"data{len(started)}"
        data.mkdir()
        output = tmp_path / f"module{len(started)}.log"
        environment = {
            **{k: v for k, v in os.environ.items() if not k.startswith("ASSET_CONNECTOR_")},
            "MODULE_CONFIGURATION": json.dumps(module_config),
            "CONNECTOR_CONFIGURATION": json.dumps({
                "sekoia_base_url": platform.url, "frequency": frequency,
                "batch_size": batch_size, "sekoia_api_key": "(held by the platform)",
            }),
            "CONNECTOR_CONFIGURATION_UUID": CONNECTOR_UUID,
            "TOKEN": TOKEN,
            "URL_CALLBACK": f"{platform.url}/callback",
            "URL_SECRETS": f"{platform.url}/secrets",
            "URL_LOGS": f"{platform.url}/logs",
            "SUB_FOLDER": str(data),
            "LIVENESS_PORT": str(_free_port()),
            "METRICS_PORT": str(_free_port()),
            "ASSET_CONNECTOR_TASK_POLL_INTERVAL": "0.05",
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": os.pathsep.join([str(MODULE_DIR), os.environ.get("PYTHONPATH", "")]),
            **(env or {}),
        }
        with output.open("wb") as sink:
            process = subprocess.Popen([sys.executable, "main.py", command], cwd=module_dir,
                                       env=environment, stdout=sink, stderr=subprocess.STDOUT)
        running = Running(process, data, output)
        started.append(running)
        return running

    yield start
    for running in started:
        if running.process.poll() is None:
            running.process.kill()
            running.process.wait()


def wait_for(condition: Callable[[], bool], timeout: float, what: str,
             running: Running | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if running is not None and running.process.poll() is not None:
            pytest.fail(f"the module exited ({running.process.returncode}) before {what}:\n"
                        f"{running.text()[-4000:]}")
        time.sleep(0.1)
    tail = running.text()[-4000:] if running is not None else ""
    pytest.fail(f"timed out waiting for {what}\n{tail}")
