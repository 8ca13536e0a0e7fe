"""`python -m entrasim`: serve a simulated tenant until Ctrl-C or SIGTERM.

Writes the CA (`--ca-out`) and a connector configuration (`--config-out`, JSON with the
client secret: keep it out of shared places) and prints where they are. Counters are readable
from another process at `GET {url}/_sim/counters`.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType

from entrasim.server import SimulatedGraph
from entrasim.spec import TenantSpec


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m entrasim", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--users", type=int, default=2500)
    parser.add_argument("--licence", "--license", choices=("free", "P1", "P2"), default="P2")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 = any free port")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer")
    parser.add_argument("--throttling", action="store_true", help="enforce Graph's RU and reporting budgets")
    parser.add_argument("--permissions", help="comma-separated granted application permissions")
    parser.add_argument("--sign-ins-per-user-per-day", type=float, default=3.0,
                        help="interactive sign-ins per user per day in the generated 30-day log")
    parser.add_argument("--ca-out", type=Path, help="where to write the CA PEM")
    parser.add_argument("--config-out", type=Path, help="where to write the connector configuration JSON")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    fields: dict[str, object] = {"seed": args.seed, "users": args.users, "licence": args.licence,
                                 "sign_ins_per_user_per_day": args.sign_ins_per_user_per_day}
    if args.permissions:
        fields["permissions"] = frozenset(p.strip() for p in args.permissions.split(",") if p.strip())
    started = time.monotonic()
    spec = TenantSpec(**fields)  # type: ignore[arg-type]
    sim = SimulatedGraph(spec, latency=args.latency, throttling=args.throttling, port=args.port,
                         host=args.host, ca_path=args.ca_out)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with sim:
        if args.config_out:
            args.config_out.parent.mkdir(parents=True, exist_ok=True)
            args.config_out.write_text(json.dumps(sim.connector_config(), indent=2) + "\n")
            args.config_out.chmod(0o600)
        print(f"entrasim: {spec.users} users ({spec.licence}, seed {spec.seed}) ready in "
              f"{time.monotonic() - started:.1f}s at {sim.url}", flush=True)
        print(f"entrasim: tenant {spec.tenant_id}, CA {sim.ca_path}", flush=True)
        if args.config_out:
            print(f"entrasim: connector config {args.config_out}", flush=True)
        print(f"entrasim: counters at {sim.url}/_sim/counters", flush=True)
        stop.wait()
    print("entrasim: stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
