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
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from connector.state import StateStore
from tests.sekoia.platform import MODULE_DIR, FakeSekoia, module_environment

# Without the extra (`pip install '.[sekoia]'`) there is nothing to test here; CI installs it.
if importlib.util.find_spec("sekoia_automation") is None:
    collect_ignore_glob = ["test_*.py"]

CONNECTOR = "entra_id_users_asset_connector"
VALIDATOR = "validate_module_configuration"
SECRET_KEYS = ("client_secret", "certificate_password")


@dataclass
class Running:
    process: subprocess.Popen[bytes]
    data: Path
    output: Path

    @property
    def state(self) -> dict[str, Any] | None:
        """The users checkpoint the module last committed (read beside the running module)."""
        path = self.data / "entra_id_users_state.sqlite"
        if not path.is_file():
            return None
        store = StateStore(path)
        try:
            return store.load("users")
        finally:
            store.close()

    def stop(self, timeout: float = 30.0) -> float:
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

#: What "a stop ends the wait at once" allows: the waits a stop must cut short are a minute or
#: more (a 429's 60 s, a 1,200-s Retry-After, an hour between cycles), while a loaded machine
#: can take a few seconds to tear an interpreter down; a bound of a few seconds made the tests
#: depend on the machine being idle.
PROMPT_EXIT_SECONDS = 15.0


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
        environment = module_environment(platform, module_config, data,
                                         frequency=frequency, batch_size=batch_size,
                                         extra=env)
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
