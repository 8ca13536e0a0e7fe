"""The command line: a thin layer over the plugin, the sinks, the state store and validation.

Exit codes: 0 success; 1 the run failed (Graph, delivery, state, or `test`/`validate` found a
problem); 2 bad configuration or usage. Messages are one line; a traceback only with `--debug`.
No secret ever reaches the terminal: settings are never printed, every error shown here comes
from code that keeps secrets out of its messages, and everything written to stderr passes the
redaction of `connector.logs` as well.

stderr is for people unless `--log-format json` makes every line of it a JSON object; stdout
carries only what the command produces (events with `--output -`, the `test` report).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import tempfile
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from connector.config import Settings, load_settings
from connector.errors import ConfigError
from connector.graph.client import AuthenticationFailed, GraphError
from connector.logs import REDACTOR, JsonLines, json_logs, redact_secrets, setup_logging
from connector.logs import stderr_handler as log_handler
from connector.plugin import STREAMS, EntraIdConnector, EntraIdUserInventory
from connector.progress import ProgressDisplay
from connector.sinks import DeliveryError, FileSink, HttpIntakeSink, Sink, StdoutSink
from connector.state import StateError, StateStore
from connector.streams import registry
from connector.streams.users import CollectionError, Summary
from connector.validation import validate_ndjson

log = logging.getLogger("connector")
# Its own logger at INFO, so the summary reaches JSON logs whatever the log level.
summary_log = logging.getLogger("connector.summary")
summary_log.setLevel(logging.INFO)

# Failures with a message fit for the user: shown as one line, exit code 1.
EXPECTED_ERRORS: tuple[type[Exception], ...] = (
    AuthenticationFailed, GraphError, CollectionError, DeliveryError, StateError, OSError)

DEMO_USERS = 2000
DEMO_SIGN_IN_DAYS = 1
SAMPLE_EVENTS = 3


class UsageError(Exception):
    """Arguments that cannot work together; exit code 2 like a configuration error."""


class RunFailed(Exception):
    """A collection stopped part-way; the message says why and what was kept."""


REPORTED_ERRORS: tuple[type[Exception], ...] = (RunFailed, *EXPECTED_ERRORS)


def _stderr(*lines: str, level: int = logging.ERROR) -> None:
    """Lines for the person at the terminal; JSON log records under `--log-format json`."""
    for line in lines:
        if json_logs():
            log.log(level, "%s", line)
        else:
            print(REDACTOR.redact(line), file=sys.stderr)


def _settings(path: str | Mapping[str, Any]) -> Settings:
    """The configuration, with its secret values registered for redaction from then on."""
    settings = load_settings(path)
    intake_key = settings.intake.api_key if settings.intake is not None else None
    redact_secrets(secret.get_secret_value() for secret in (
        settings.client_secret, settings.certificate_password, intake_key) if secret is not None)
    return settings


# --- run ---------------------------------------------------------------------------------------

@dataclass(slots=True)
class RunTracker:
    """What a run has done so far, for the progress line (another thread) and the summary."""

    plugin: EntraIdConnector | None = None
    delivered: int = 0
    committed: int = 0  # of the delivered events, those whose batch is committed
    delivered_by_stream: dict[str, int] = field(default_factory=dict)

    def counters(self) -> dict[str, float]:
        counts = self.plugin.counters() if self.plugin is not None else {}
        counts["events_delivered"] = self.delivered
        return counts

    def report(self, error: BaseException | None) -> dict[str, Any]:
        """The `--summary-json` document: the users summary at the top (as before sign-ins
        existed), every stream's summary under `streams`, deliveries, warnings, error."""
        plugins = self.plugin.plugins if self.plugin is not None else {}
        users = plugins.get("users")
        if users is not None:
            summary = users.summary.as_dict()
        elif self.plugin is not None:  # log streams alone: no inventory figures to show
            summary = {"graph_requests": self.plugin.graph_requests,
                       "completed": all(p.summary.completed for p in plugins.values())}
        else:
            summary = Summary().as_dict()
        return {
            **summary,
            "streams": {name: {**plugin.summary.as_dict(),
                               "events_delivered": self.delivered_by_stream.get(name, 0)}
                        for name, plugin in plugins.items()},
            "events_delivered": self.delivered,
            "warnings": list(self.plugin.warnings) if self.plugin is not None else [],
            "error": REDACTOR.redact(_one_line(error)) if error is not None else None,
        }


def collect(settings: Settings, store: StateStore, sink: Sink,
            progress: Callable[[int], None] | None = None,
            tracker: RunTracker | None = None,
            streams: Sequence[str] | None = None, *, full: bool = False) -> Summary:
    """One collection cycle: deliver each batch, then commit its checkpoint (never before).

    `streams` (default: the inventory, plus sign-ins when enabled) run together over one Graph
    client (`full`: the inventory collects every user); their events share the sink, told apart by `class_uid`. On failure `RunFailed` says
    what was kept: each stream's checkpoint still describes its last delivered batch, so the
    next run resumes there. `tracker` follows the run as it goes. Returns the users summary
    (an empty one when the inventory did not run).
    """
    tracker = tracker or RunTracker()
    plugin = tracker.plugin = EntraIdConnector(settings, store=store, streams=streams, full=full)
    try:
        for batch in plugin.batches():
            if batch.events:
                sink.deliver(batch.events)
                tracker.delivered += len(batch.events)
                tracker.delivered_by_stream[batch.stream] = (
                    tracker.delivered_by_stream.get(batch.stream, 0) + len(batch.events))
            store.commit(batch)
            tracker.committed += len(batch.events)
            if progress is not None and batch.events:
                progress(tracker.delivered)
    except EXPECTED_ERRORS as error:
        raise RunFailed(f"{_one_line(error)} ({_kept(tracker)})") from error
    finally:
        sink.close()
    users = plugin.plugins.get("users")
    return users.summary if isinstance(users, EntraIdUserInventory) else Summary()


def _kept(tracker: RunTracker) -> str:
    """What a failed run kept: only committed batches count as done."""
    delivered, committed = tracker.delivered, tracker.committed
    if not delivered:
        return "nothing delivered; the checkpoint is unchanged"
    if committed == delivered:
        return f"{delivered} events delivered and committed; the next run resumes after them"
    return (f"{delivered} events delivered, {committed} of them committed; the next run "
            f"resumes after the committed ones and may deliver the other "
            f"{delivered - committed} again")


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
    tracker = RunTracker()
    display = ProgressDisplay(sys.stderr, tracker.counters,
                              enabled=None if args.progress else False)
    handler = log_handler()
    if handler is not None:
        handler.before_write = display.clear
    error: BaseException | None = None
    try:
        settings = _settings(args.config)
        streams = _streams(settings, args.stream)
        sink = _sink(settings, args.output)
        store = StateStore(args.state)
        with store.lock(), display:
            collect(settings, store, sink, tracker=tracker, streams=streams, full=args.full)
    except BaseException as failure:
        error = failure
        raise
    finally:
        if handler is not None:
            handler.before_write = None
        _report_run(tracker, error, args.summary_json)
    return 0


def _report_run(tracker: RunTracker, error: BaseException | None,
                summary_path: str | None) -> None:
    """The final summary: on stderr always (once the run got going), as JSON when asked."""
    report = tracker.report(error)
    if summary_path:
        try:
            Path(summary_path).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        except OSError as failure:  # the run's own outcome matters more than its report
            log.warning("cannot write the summary to %s: %s", summary_path,
                        failure.strerror or failure)
    plugin = tracker.plugin
    if plugin is None or (error is not None and not report["graph_requests"]):
        return  # stopped before any work: the error line says it all
    if json_logs():
        summary_log.info("run summary", extra={"summary": report})
        return
    lines = [line for stream in plugin.plugins.values() for line in stream.summary.lines()]
    lines += [f"warning: {warning}" for warning in plugin.warnings]
    _stderr(*lines)


def _streams(settings: Settings, choice: str) -> tuple[str, ...] | None:
    """`--stream`: `all` is the configuration's choice; one stream must be enabled to run."""
    if choice == "all":
        return None
    spec = registry.get(choice)
    if not registry.enabled(spec, settings):
        raise UsageError(f"--stream {choice} needs {spec.settings_block}.enabled: true in the "
                         "configuration")
    return (choice,)


# --- test --------------------------------------------------------------------------------------

def cmd_test(args: argparse.Namespace) -> int:
    from connector.diagnostics import diagnose, render_text

    settings = _settings(args.config)
    diagnosis = asyncio.run(diagnose(settings))
    report = json.dumps(diagnosis.to_json(), indent=2) + "\n" if args.json \
        else render_text(diagnosis)
    sys.stdout.write(REDACTOR.redact(report))
    return diagnosis.exit_code


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
    state_path = out_dir / "state.db"
    for stale in (events_path, state_path):
        stale.unlink(missing_ok=True)
    spec = TenantSpec(seed=args.seed, users=args.users, licence=args.licence)
    print(f"Starting a simulated Entra ID tenant: {spec.users} users, licence {spec.licence} ...")
    tracker = RunTracker()
    with SimulatedGraph(spec) as sim:
        # a day of directory changes made by admins and apps, for the audit stream to show
        until = datetime.now(UTC)
        sim.tenant.add_audit_history(spec.users, since=until - timedelta(days=DEMO_SIGN_IN_DAYS),
                                     until=until - timedelta(minutes=5), seed=args.seed)
        config = {**sim.connector_config(),
                  "sign_ins": {"enabled": True, "lookback_days": DEMO_SIGN_IN_DAYS},
                  "directory_audits": {"enabled": True, "lookback_days": DEMO_SIGN_IN_DAYS},
                  "devices": {"enabled": True},
                  "workload_identities": {"enabled": True}}
        settings = _settings(config)
        print(f"Simulated Graph at {sim.url}; collecting every stream through the connector's "
              f"own plugin: the user inventory, the last {DEMO_SIGN_IN_DAYS} day(s) of sign-ins "
              "and directory audits, devices and workload identities (requests are planned "
              "within Graph's documented limits, e.g. 5 per 10 s for the reports) ...")
        store = StateStore(state_path)
        with store.lock():
            collect(settings, store, FileSink(events_path), tracker=tracker,
                    progress=lambda n: print(f"  delivered {n} events", flush=True))
    report = validate_ndjson(events_path)
    by_class = _count_classes(events_path)
    print()
    print(f"Events:     {events_path}")
    print(f"Checkpoint: {state_path} (one checkpoint per stream)")
    print(f"Validation: {report.valid} of {report.events} events valid against OCSF 1.8.0 ("
          + ", ".join(f"{count} of class {uid}" for uid, count in sorted(by_class.items()))
          + ")")
    print()
    plugin = tracker.plugin
    if plugin is not None:
        for stream in plugin.plugins.values():
            for line in stream.summary.lines():
                print(line)
    print()
    for class_uid in sorted(by_class):
        print(f"{SAMPLE_EVENTS} sample events of class {class_uid}:")
        for raw in _samples(events_path, class_uid, SAMPLE_EVENTS):
            print(orjson.dumps(orjson.loads(raw), option=orjson.OPT_INDENT_2).decode())
        print()
    print(f"Validate them yourself: python -m connector validate {events_path}")
    return 0 if report.ok else 1


def _count_classes(path: Path) -> dict[int, int]:
    counts: dict[int, int] = {}
    with path.open("rb") as handle:
        for raw in handle:
            class_uid = orjson.loads(raw).get("class_uid")
            counts[class_uid] = counts.get(class_uid, 0) + 1
    return counts


def _samples(path: Path, class_uid: int, count: int) -> list[bytes]:
    found: list[bytes] = []
    with path.open("rb") as handle:
        for raw in handle:
            if orjson.loads(raw).get("class_uid") == class_uid:
                found.append(raw)
                if len(found) == count:
                    break
    return found


# --- plumbing ----------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m connector",
        description="Microsoft Entra ID -> OCSF 1.8.0: " + "; ".join(
            f"{spec.name} -> " + (", ".join(f"{name} ({uid})" for uid, name in spec.classes)
                                  if spec.classes else f"{spec.class_name} (class {spec.class_uid})")
            for spec in registry.STREAMS) + ".",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress (INFO)")
    # Also accepted after the command (`run ... --log-format json`), where people put it.
    logging_options = argparse.ArgumentParser(add_help=False)
    logging_options.add_argument(
        "--log-format", choices=("text", "json"), default=argparse.SUPPRESS,
        help="stderr as text for people (default) or one JSON object a line")
    parser.add_argument("--log-format", choices=("text", "json"), default="text",
                        help=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", parents=[logging_options],
                              help="one collection cycle: events out, checkpoint saved")
    run.add_argument("--config", required=True, help="configuration JSON file")
    run.add_argument("--state", required=True,
                     help="state file: checkpoints and remembered facts, SQLite (locked while "
                          "running; a JSON file from an earlier version is converted)")
    run.add_argument("--output", help="- for stdout, or an NDJSON file to append to "
                                      "(default: the configuration's intake)")
    run.add_argument("--summary-json", metavar="FILE",
                     help="also write the run summary as JSON to FILE (even if the run fails)")
    run.add_argument("--no-progress", dest="progress", action="store_false",
                     help="no progress line on a terminal")
    run.add_argument("--stream", choices=("all", *STREAMS), default="all",
                     help="which stream to collect: " + ", ".join(
                         f"{spec.name} (class "
                         + ", ".join(str(uid) for uid in registry.class_uids(spec))
                         + (f", needs {spec.settings_block}.enabled)" if spec.settings_block
                            else ")") for spec in registry.STREAMS)
                     + ", or all (default): every stream the configuration enables. Each keeps "
                       "its own checkpoint in --state")
    run.add_argument("--full", action="store_true",
                     help="a full collection of the inventory now, whatever the state holds "
                          "(change tracking restarts from it)")
    run.set_defaults(func=cmd_run)

    test = commands.add_parser(
        "test", parents=[logging_options],
        help="diagnose: token, Graph, permissions, licences, credential expiry")
    test.add_argument("--config", required=True, help="configuration JSON file")
    test.add_argument("--json", action="store_true", help="the diagnosis as JSON on stdout")
    test.set_defaults(func=cmd_test)

    demo = commands.add_parser("demo", parents=[logging_options],
                               help="collect from a built-in simulated tenant")
    demo.add_argument("--users", type=int, default=DEMO_USERS, help="tenant size")
    demo.add_argument("--licence", choices=("free", "P1", "P2"), default="P2")
    demo.add_argument("--seed", type=int, default=42)
    demo.add_argument("--out", help="directory for events.ndjson and state.db "
                                    "(default: a new temporary directory)")
    demo.set_defaults(func=cmd_demo)

    validate = commands.add_parser("validate", parents=[logging_options],
                                   help="validate NDJSON events against OCSF 1.8.0")
    validate.add_argument("file", help="NDJSON file, one event per line")
    validate.set_defaults(func=cmd_validate)
    return parser


def _setup_logging(debug: bool, verbose: bool) -> None:
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    setup_logging(level=level, debug=debug)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.debug, args.verbose)
    handler = log_handler()
    if handler is not None and args.log_format == "json":
        handler.setFormatter(JsonLines())
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
            _stderr(traceback.format_exc())
        _stderr(f"error: {_one_line(error)}")
        return 1
    except KeyboardInterrupt:
        _stderr("interrupted")
        return 130
    except Exception as error:  # the promise: one line, no traceback unless --debug
        if args.debug:
            _stderr(traceback.format_exc())
        _stderr(f"error: unexpected {type(error).__name__}: {_one_line(error)} "
                "(run with --debug for details)")
        return 1


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    if isinstance(error, OSError) and error.filename:
        text = f"{error.strerror or text}: {os.fspath(error.filename)}"
    return text or type(error).__name__
