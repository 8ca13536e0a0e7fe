"""The command line: a thin layer over the plugin, the sinks, the state store and validation.

Exit codes: 0 success; 1 the run failed (Graph, delivery, state, or `test`/`validate` found a
problem); 2 bad configuration or usage. Messages are one line; a traceback only with `--debug`.
No secret ever reaches the terminal: settings are never printed, and every error shown here
comes from code that keeps secrets out of its messages.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import tempfile
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

import orjson

from connector.config import Settings, load_settings
from connector.errors import ConfigError
from connector.graph.client import AuthenticationFailed, GraphError
from connector.inventory import CollectionError, Summary
from connector.plugin import EntraIdUserInventory
from connector.sinks import DeliveryError, FileSink, HttpIntakeSink, Sink, StdoutSink
from connector.state import StateError, StateStore
from connector.validation import validate_ndjson

log = logging.getLogger("connector")

# Failures with a message fit for the user: shown as one line, exit code 1.
EXPECTED_ERRORS: tuple[type[Exception], ...] = (
    AuthenticationFailed, GraphError, CollectionError, DeliveryError, StateError, OSError)

DEMO_USERS = 2000
SAMPLE_EVENTS = 3


class UsageError(Exception):
    """Arguments that cannot work together; exit code 2 like a configuration error."""


class RunFailed(Exception):
    """A collection stopped part-way; the message says why and what was kept."""


REPORTED_ERRORS: tuple[type[Exception], ...] = (RunFailed, *EXPECTED_ERRORS)


def _stderr(*lines: str) -> None:
    for line in lines:
        print(line, file=sys.stderr)


# --- run ---------------------------------------------------------------------------------------

def collect(settings: Settings, store: StateStore, sink: Sink,
            progress: Callable[[int], None] | None = None) -> Summary:
    """One collection cycle: deliver each batch, then commit its checkpoint (never before).

    On failure the summary of what was done is printed before `RunFailed` is raised; the
    checkpoint then still describes the last delivered batch, so the next run resumes there.
    """
    plugin = EntraIdUserInventory(settings, store.load())
    delivered = 0
    try:
        for batch in plugin.batches():
            if batch.events:
                sink.deliver(batch.events)
                delivered += len(batch.events)
            store.save(batch.checkpoint)
            if progress is not None and batch.events:
                progress(delivered)
    except EXPECTED_ERRORS as error:
        if plugin.summary.users_listed:
            _stderr(*plugin.summary.lines())
        kept = (f"{delivered} events delivered and committed; the next run resumes after them"
                if delivered else "nothing delivered; the checkpoint is unchanged")
        raise RunFailed(f"{_one_line(error)} ({kept})") from error
    finally:
        sink.close()
    return plugin.summary


def _sink(settings: Settings, output: str | None) -> Sink:
    if output == "-":
        return StdoutSink()
    if output:
        return FileSink(output)
    if settings.intake is not None:
        return HttpIntakeSink.from_settings(settings.intake)
    raise UsageError("--output is required when the configuration has no intake block "
                     "(use - for stdout or a file path)")


def cmd_run(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    sink = _sink(settings, args.output)
    store = StateStore(args.state)
    with store.lock():
        summary = collect(settings, store, sink)
    _stderr(*summary.lines())
    return 0


# --- test --------------------------------------------------------------------------------------

_MARKS = {"ok": "ok", "missing": "MISSING", "unknown": "unknown", "failed": "FAILED",
          "unavailable": "no"}


def cmd_test(args: argparse.Namespace) -> int:
    from connector.diagnostics import diagnose

    settings = load_settings(args.config)
    diagnosis = asyncio.run(diagnose(settings))
    out = sys.stdout
    for check in diagnosis.section("connection"):
        if check.status != "ok":
            print(f"Not connected: {check.detail}", file=out)
    if diagnosis.can_collect:
        print(f"Connected to tenant {diagnosis.tenant}", file=out)
    _print_section(out, "Permissions (application)", diagnosis.section("permissions"),
                   detail_for=("missing",))
    _print_section(out, "Features", diagnosis.section("features"))
    if diagnosis.can_collect:
        left_out = [c.name for c in diagnosis.section("features") if c.status != "ok"]
        missing = [c.name for c in diagnosis.section("permissions") if c.status == "missing"]
        verdict = "collection can run"
        if left_out:
            verdict += "; not collected: " + ", ".join(left_out)
        if missing:
            verdict += "; missing permissions: " + ", ".join(missing)
        print(f"Result: {verdict}", file=out)
        return 0
    print("Result: collection cannot run", file=out)
    return 1


def _print_section(out: TextIO, title: str, checks: Sequence[Any],
                   detail_for: Sequence[str] | None = None) -> None:
    if not checks:
        return
    print(f"{title}:", file=out)
    width = max(len(c.name) for c in checks)
    for check in checks:
        show = detail_for is None or check.status in detail_for
        detail = f"  {check.detail}" if show and check.detail else ""
        print(f"  {_MARKS[check.status]:<8} {check.name:<{width}}{detail}".rstrip(), file=out)


# --- validate ----------------------------------------------------------------------------------

def cmd_validate(args: argparse.Namespace) -> int:
    report = validate_ndjson(args.file)
    for error in report.errors:
        print(str(error))
    print(f"{report.events} events, {report.valid} valid, {report.invalid} invalid",
          file=sys.stderr)
    return 0 if report.ok else 1


# --- demo --------------------------------------------------------------------------------------

def cmd_demo(args: argparse.Namespace) -> int:
    from entrasim import SimulatedGraph, TenantSpec

    out_dir = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="entra-demo-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    events_path = out_dir / "events.ndjson"
    state_path = out_dir / "state.json"
    for stale in (events_path, state_path):
        stale.unlink(missing_ok=True)
    spec = TenantSpec(seed=args.seed, users=args.users, licence=args.licence)
    print(f"Starting a simulated Entra ID tenant: {spec.users} users, licence {spec.licence} ...")
    with SimulatedGraph(spec) as sim:
        settings = load_settings(sim.connector_config())
        print(f"Simulated Graph at {sim.url}; collecting through the connector's own plugin "
              "(requests to Graph's reporting endpoints are paced at 5 per 10 s, as Graph "
              "requires) ...")
        store = StateStore(state_path)
        with store.lock():
            summary = collect(settings, store, FileSink(events_path),
                              progress=lambda n: print(f"  delivered {n} events", flush=True))
    report = validate_ndjson(events_path)
    print()
    print(f"Events:     {events_path}")
    print(f"Checkpoint: {state_path}")
    print(f"Validation: {report.valid} of {report.events} events valid against OCSF 1.8.0 "
          f"(class 5003)")
    print()
    for line in summary.lines():
        print(line)
    print()
    print(f"{SAMPLE_EVENTS} sample events:")
    with events_path.open("rb") as handle:
        for _, raw in zip(range(SAMPLE_EVENTS), handle, strict=False):
            print(orjson.dumps(orjson.loads(raw), option=orjson.OPT_INDENT_2).decode())
    print()
    print(f"Validate them yourself: python -m connector validate {events_path}")
    return 0 if report.ok else 1


# --- plumbing ----------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m connector",
        description="Microsoft Entra ID users -> OCSF 1.8.0 User Inventory Info (class 5003).",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress (INFO)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="one collection cycle: events out, checkpoint saved")
    run.add_argument("--config", required=True, help="configuration JSON file")
    run.add_argument("--state", required=True, help="checkpoint file (locked while running)")
    run.add_argument("--output", help="- for stdout, or an NDJSON file to append to "
                                      "(default: the configuration's intake)")
    run.set_defaults(func=cmd_run)

    test = commands.add_parser("test", help="check token, reachability, permissions, licences")
    test.add_argument("--config", required=True, help="configuration JSON file")
    test.set_defaults(func=cmd_test)

    demo = commands.add_parser("demo", help="collect from a built-in simulated tenant")
    demo.add_argument("--users", type=int, default=DEMO_USERS, help="tenant size")
    demo.add_argument("--licence", choices=("free", "P1", "P2"), default="P2")
    demo.add_argument("--seed", type=int, default=42)
    demo.add_argument("--out", help="directory for events.ndjson and state.json "
                                    "(default: a new temporary directory)")
    demo.set_defaults(func=cmd_demo)

    validate = commands.add_parser("validate", help="validate NDJSON events against OCSF 1.8.0")
    validate.add_argument("file", help="NDJSON file, one event per line")
    validate.set_defaults(func=cmd_validate)
    return parser


def _setup_logging(debug: bool, verbose: bool) -> None:
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Per-request lines from the HTTP stack and azure-identity's own failure logs repeat what
    # the connector reports once, in its own words.
    for noisy in ("httpx", "httpcore", "azure", "msal", "hpack"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if debug else logging.ERROR)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.debug, args.verbose)
    try:
        return int(args.func(args))
    except ConfigError as error:
        _stderr(str(error))
        return 2
    except UsageError as error:
        _stderr(f"error: {error}")
        return 2
    except REPORTED_ERRORS as error:
        if args.debug:
            traceback.print_exc()
        _stderr(f"error: {_one_line(error)}")
        return 1
    except KeyboardInterrupt:
        _stderr("interrupted")
        return 130
    except Exception as error:  # the promise: one line, no traceback unless --debug
        if args.debug:
            traceback.print_exc()
        _stderr(f"error: unexpected {type(error).__name__}: {_one_line(error)} "
                "(run with --debug for details)")
        return 1


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    if isinstance(error, OSError) and error.filename:
        text = f"{error.strerror or text}: {os.fspath(error.filename)}"
    return text or type(error).__name__
