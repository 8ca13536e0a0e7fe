"""What the fault tests share: an in-process run on virtual time, and the CLI in a subprocess.

In-process runs put the connector's waits (Retry-After, backoff, the reporting budget's 10 s
window) on a virtual clock, so a storm that would take minutes of real sleeping takes seconds.
Everything else is real: the simulated tenant answers over sockets and TLS, faults and all.
The integration tests use the same in-process run (`collect`), so there is one way to drive
`Collection` outside the CLI.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import orjson

from connector.config import Settings, load_settings
from connector.graph.client import GraphClient
from connector.graph.throttle import Throttle
from connector.plugin import PRODUCT, SIGN_IN_PRODUCT
from connector.state import StateStore
from connector.streams import mfa_handoff
from connector.streams.batch import Batch
from connector.streams.changes import TrackedRun
from connector.streams.directory_audits import PRODUCT as AUDIT_PRODUCT
from connector.streams.directory_audits import AuditSummary, DirectoryAuditCollection
from connector.streams.sign_ins import SignInCollection, SignInSummary
from connector.streams.users import Collection, Summary
from entrasim import SimulatedGraph
from tests.cli.truth import REPO
from tests.cli.virtual_time import VirtualTime
from tests.intake_receiver import IntakeReceiver

OutcomeT = TypeVar("OutcomeT")


class ObservedTime(VirtualTime):
    """Virtual time that tells `on_sleep` about each wait (e.g. to end a fault once waited out)."""

    def __init__(self, on_sleep: Callable[[float], None]) -> None:
        super().__init__()
        self._on_sleep = on_sleep

    async def sleep(self, seconds: float) -> None:
        await super().sleep(seconds)
        self._on_sleep(seconds)


@dataclass
class Outcome:
    """What an in-process run produced before it ended (completed, failed, or was cut off)."""

    batches: list[Batch]
    summary: Summary
    client: GraphClient
    error: Exception | None = None

    @property
    def events(self) -> list[dict[str, Any]]:
        return [orjson.loads(e) for b in self.batches for e in b.events]

    @property
    def ids(self) -> list[str]:
        return [e["user"]["uid"] for e in self.events]


def run_collection(sim: SimulatedGraph, checkpoint: Mapping[str, Any] | None = None, *,
                   time_source: VirtualTime | None = None,
                   on_batch: Callable[[int], None] | None = None,
                   stop_after: int | None = None, **config: Any) -> Outcome:
    """One collection cycle through `Collection` with waits on virtual time.

    A failure does not raise: it is kept in `error`, beside the batches delivered before it.
    `stop_after` batches closes the stream there, as a kill between two batches would.
    """
    settings = load_settings(sim.connector_config(**config))

    def build(client: GraphClient) -> tuple[Collection, Outcome]:
        collection = Collection(settings, checkpoint, client, product=PRODUCT)
        return collection, Outcome([], collection.summary, client)

    return _on_virtual_time(settings, time_source or VirtualTime(), build, on_batch, stop_after)


def _on_virtual_time(settings: Settings, virtual: VirtualTime,
                     build: Callable[[GraphClient], tuple[Any, OutcomeT]],
                     on_batch: Callable[[int], None] | None, stop_after: int | None) -> OutcomeT:
    """Run a stream's `batches()` with the client's waits on `virtual`; failures are kept in
    the outcome's `error`, `stop_after` batches close the stream there (as a kill would)."""

    async def main() -> OutcomeT:
        throttle = Throttle.create(max_concurrency=int(settings.max_concurrency),
                                   deadline_seconds=float(settings.retry_deadline_seconds),
                                   clock=virtual.clock, sleep=virtual.sleep)
        client = GraphClient.from_settings(settings, throttle=throttle)
        collection, outcome = build(client)
        try:
            stream = collection.batches()
            async for batch in stream:
                outcome.batches.append(batch)
                if on_batch is not None:
                    on_batch(len(outcome.batches))
                if stop_after is not None and len(outcome.batches) >= stop_after:
                    await stream.aclose()
                    break
        except Exception as exc:
            outcome.error = exc
        finally:
            await client.aclose()
        return outcome

    return asyncio.run(main())


def run_tracked(sim: SimulatedGraph, store: StateStore, *,
                time_source: VirtualTime | None = None, full: bool = False,
                clock: Callable[[], float] | None = None, stop_after: int | None = None,
                **config: Any) -> Outcome:
    """One change-tracking run (`TrackedRun`) with waits on virtual time; each batch is
    committed to `store` once "delivered" (kept in the outcome), as the CLI does. `clock`
    says when the run starts (cadences), else the wall clock. `stop_after` committed batches
    ends the run there, as a kill right after a commit would."""
    settings = load_settings(sim.connector_config(**config))
    virtual = time_source or VirtualTime()

    async def main() -> Outcome:
        throttle = Throttle.create(max_concurrency=int(settings.max_concurrency),
                                   deadline_seconds=float(settings.retry_deadline_seconds),
                                   clock=virtual.clock, sleep=virtual.sleep)
        client = GraphClient.from_settings(settings, throttle=throttle)
        summary = Summary()
        tracked = TrackedRun(settings, client, store, product=PRODUCT, cloud_name="global",
                             summary=summary, full=full, clock=clock)
        outcome = Outcome([], summary, client)
        try:
            stream = tracked.batches()
            async for batch in stream:
                outcome.batches.append(batch)
                store.commit(batch)
                if stop_after is not None and len(outcome.batches) >= stop_after:
                    await stream.aclose()
                    break
        except Exception as exc:
            outcome.error = exc
        finally:
            await client.aclose()
        return outcome

    return asyncio.run(main())


def collect(sim: SimulatedGraph, checkpoint: Mapping[str, Any] | None = None, *,
            time_source: VirtualTime | None = None,
            on_batch: Callable[[int], None] | None = None,
            stop_after: int | None = None, **config: Any) -> Outcome:
    """`run_collection` for tests that expect the run to succeed: its failure is raised."""
    outcome = run_collection(sim, checkpoint, time_source=time_source, on_batch=on_batch,
                             stop_after=stop_after, **config)
    if outcome.error is not None:
        raise outcome.error
    return outcome


@dataclass
class SignInOutcome(Outcome):
    """What an in-process sign-in run produced before it ended; ids are sign-in ids."""

    summary: SignInSummary  # type: ignore[assignment]

    @property
    def ids(self) -> list[str]:
        return [e["metadata"]["uid"] for e in self.events]

    @property
    def checkpoint(self) -> dict[str, Any]:
        return self.batches[-1].checkpoint


def run_sign_ins(sim: SimulatedGraph, checkpoint: Mapping[str, Any] | None = None, *,
                 time_source: VirtualTime | None = None,
                 on_batch: Callable[[int], None] | None = None,
                 stop_after: int | None = None, sign_ins: Mapping[str, Any] | None = None,
                 clock: Callable[[], float] | None = None, **config: Any) -> SignInOutcome:
    """One sign-in run through `SignInCollection`; waits (reporting budget, retries) on virtual
    time, the window on the wall clock (the simulator's sign-in log is on it too) unless `clock`
    says when the run starts. A failure is kept in `error`; `stop_after` batches closes the
    stream there, as a kill would."""
    options = {"enabled": True, "lookback_days": 1, **(sign_ins or {})}
    settings = load_settings(sim.connector_config(sign_ins=options, **config))

    def build(client: GraphClient) -> tuple[SignInCollection, SignInOutcome]:
        collection = SignInCollection(settings, checkpoint, client, product=SIGN_IN_PRODUCT,
                                      clock=clock or time.time)
        return collection, SignInOutcome([], collection.summary, client)

    return _on_virtual_time(settings, time_source or VirtualTime(), build, on_batch, stop_after)


@dataclass
class AuditOutcome(Outcome):
    """What an in-process directory audit run produced; ids are audit record ids."""

    summary: AuditSummary  # type: ignore[assignment]

    @property
    def ids(self) -> list[str]:
        return [e["metadata"]["uid"] for e in self.events]

    @property
    def checkpoint(self) -> dict[str, Any]:
        return self.batches[-1].checkpoint


def run_directory_audits(sim: SimulatedGraph, checkpoint: Mapping[str, Any] | None = None, *,
                         time_source: VirtualTime | None = None,
                         stop_after: int | None = None, audits: Mapping[str, Any] | None = None,
                         clock: Callable[[], float] | None = None,
                         handoff: mfa_handoff.Notes | None = None,
                         store: StateStore | None = None, **config: Any) -> AuditOutcome:
    """One directory audit run through `DirectoryAuditCollection`, as `run_sign_ins`;
    `handoff` stands in for the store's notes (the MFA notes go into the batches). With a
    `store`, the run starts from its checkpoint and cursors and every batch is committed to it
    afterwards, in order, as delivered."""
    options = {"enabled": True, "lookback_days": 1, **(audits or {})}
    settings = load_settings(sim.connector_config(directory_audits=options, **config))
    if store is not None:
        checkpoint = checkpoint or store.load("directory_audits")
        handoff = mfa_handoff.stored(store)[0] if handoff is None else handoff

    def build(client: GraphClient) -> tuple[DirectoryAuditCollection, AuditOutcome]:
        collection = DirectoryAuditCollection(settings, checkpoint, client, product=AUDIT_PRODUCT,
                                              clock=clock or time.time, handoff=handoff)
        return collection, AuditOutcome([], collection.summary, client)

    outcome = _on_virtual_time(settings, time_source or VirtualTime(), build, None, stop_after)
    if store is not None and outcome.error is None:
        for batch in outcome.batches:
            store.commit(batch)
    return outcome


# --- the CLI, as a separate process ----------------------------------------------------------

@dataclass(frozen=True)
class Paths:
    config: Path
    state: Path


def write_run_config(directory: Path, sim: SimulatedGraph, receiver: IntakeReceiver, *,
                     intake: Mapping[str, Any] | None = None, **overrides: Any) -> Paths:
    """A configuration file for `sim` delivering to `receiver`; `intake` adds intake keys."""
    directory.mkdir(parents=True, exist_ok=True)
    block = {"url": receiver.url, "batch_size": 500, **(intake or {})}
    config = sim.connector_config(intake=block, **overrides)
    path = directory / "config.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    return Paths(path, directory / "state.json")


class Running(subprocess.Popen[str]):
    """A started run whose output goes to files, never to pipes: nobody reads a pipe while the
    test waits for batches, and a talkative run (`--debug -v`) blocks once a pipe's 64 KiB are
    full, however long the test waits (how soon depends on the machine's load)."""

    def __init__(self, args: Sequence[str], env: Mapping[str, str] | None) -> None:
        self.out_file = tempfile.TemporaryFile()  # noqa: SIM115 (closed by `texts`)
        self.err_file = tempfile.TemporaryFile()  # noqa: SIM115
        super().__init__(args, cwd=REPO, stdout=self.out_file, stderr=self.err_file,
                         env=None if env is None else dict(env))

    def texts(self) -> tuple[str, str]:
        out = []
        for handle in (self.out_file, self.err_file):
            handle.seek(0)
            out.append(handle.read().decode("utf-8", "replace"))
            handle.close()
        return out[0], out[1]


def start_run(paths: Paths, *extra: str, env: Mapping[str, str] | None = None,
              run_args: Sequence[str] = ()) -> Running:
    """`python -m connector [extra] run [run_args]` into the configured intake, started and
    left running."""
    return Running(
        [sys.executable, "-m", "connector", *extra, "run", "--config", str(paths.config),
         "--state", str(paths.state), *run_args], env)


@dataclass(frozen=True)
class Finished:
    returncode: int
    stdout: str
    stderr: str


def finish(process: Running, timeout: float = 120) -> Finished:
    process.wait(timeout=timeout)
    stdout, stderr = process.texts()
    return Finished(process.returncode, stdout, stderr)


def run_to_end(paths: Paths, *extra: str, timeout: float = 120,
               run_args: Sequence[str] = ()) -> Finished:
    return finish(start_run(paths, *extra, run_args=run_args), timeout)


def wait_for_batches(receiver: IntakeReceiver, count: int, process: Running,
                     timeout: float = 60) -> None:
    """Return as soon as the receiver has acknowledged `count` batches (polling every 2 ms)."""
    give_up = time.monotonic() + timeout
    while len(receiver.batches) < count:
        if process.poll() is not None:
            raise AssertionError(f"the run ended (exit {process.returncode}) before "
                                 f"{count} batches were acknowledged")
        if time.monotonic() > give_up:
            raise AssertionError(f"fewer than {count} batches acknowledged after {timeout} s")
        time.sleep(0.002)


def wait_until_listening(receiver: IntakeReceiver, timeout: float = 30) -> None:
    """Return once the receiver's port accepts connections again (after `go_down`)."""
    address = ("127.0.0.1", int(receiver.url.rpartition(":")[2]))
    give_up = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(address, timeout=1).close()
            return
        except OSError:
            if time.monotonic() > give_up:
                raise
            time.sleep(0.05)


def kill(process: Running) -> Finished:
    """SIGKILL, as the OOM killer or a lost machine would; what it had printed is returned."""
    process.send_signal(signal.SIGKILL)
    killed = finish(process, timeout=30)
    assert killed.returncode == -signal.SIGKILL
    return killed


def received_ids(receiver: IntakeReceiver) -> list[str]:
    return [event["user"]["uid"] for event in receiver.events]


def load_state(paths: Paths) -> dict[str, Any] | None:
    """The committed users checkpoint; the state file must be readable whenever it exists."""
    if not paths.state.exists():
        return None
    # A state database may exist with nothing committed yet (killed before the first commit).
    return StateStore(paths.state).load()
