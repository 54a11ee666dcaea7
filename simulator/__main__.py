"""Command line: `python -m simulator [options]` serves the API; `python -m simulator write-log ...` writes logs
(`--sealed-key` puts sealed client results on some lines); `python -m simulator send-webhooks ...` POSTs a day's
signed webhooks to a receiver.

The serve options are generated from `SimulatorConfig`'s fields (`--rps-limit 5`, `--retention-days none`), so a
new knob is a new option without touching this file.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
import signal
import sys
import threading
import typing
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from simulator.applog import write_demo_logs
from simulator.config import TRUNCATE_MODES, SimulatorConfig
from simulator.population import Population
from simulator.sealed import SealedLogs
from simulator.server import start
from simulator.webhooks import send_day

_NONE_WORDS = ("none", "off", "null")


def _optional(convert: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        return None if text.lower() in _NONE_WORDS else convert(text)

    parse.__name__ = convert.__name__  # argparse names the type in its error messages
    return parse


def _converter(hint: Any) -> Callable[[str], Any]:
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    base = args[0] if args else hint
    return _optional(base) if args else base


def serve_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m simulator",
        description="Serve a simulated Fingerprint Server API (v3 and v4) until interrupted. "
        "Subcommand: `write-log` writes demo application logs (see `python -m simulator write-log -h`).",
    )
    hints = typing.get_type_hints(SimulatorConfig)
    for f in dataclasses.fields(SimulatorConfig):
        flag = "--" + f.name.replace("_", "-")
        if hints[f.name] is bool:
            parser.add_argument(flag, action="store_true", help=f.metadata["help"])
            continue
        choices = TRUNCATE_MODES if f.name == "truncate_mode" else None
        parser.add_argument(
            flag,
            type=_converter(hints[f.name]),
            default=f.default,
            choices=choices,
            help=f"{f.metadata['help']} (default: {f.default})",
        )
    return parser


def log_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m simulator write-log", description=write_demo_logs.__doc__)
    parser.add_argument("--out", type=Path, required=True, help="output folder (created if missing)")
    parser.add_argument("--start", type=date.fromisoformat, required=True, help="first day, YYYY-MM-DD")
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--per-day", type=int, default=300, help="log lines per day (before dirt and retries)")
    parser.add_argument("--seed", type=int, default=1, help="must match the simulator's --seed")
    parser.add_argument("--events-per-day", type=int, default=2000, help="must match the simulator's")
    parser.add_argument("--now-ms", type=int, default=None, help="leave out events after this instant")
    parser.add_argument("--sealed-key", default=None, help="base64 AES-256 key: seal a share of the lines' events")
    parser.add_argument("--sealed-share", type=float, default=0.3, help="share of JSON/logfmt lines with a seal")
    parser.add_argument("--sealed-version", type=int, choices=(3, 4), default=3, help="API version sealed")
    return parser


def webhook_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m simulator send-webhooks", description=send_day.__doc__)
    parser.add_argument("--url", required=True, help="the receiver, e.g. http://127.0.0.1:8780/")
    parser.add_argument("--secret", required=True, help="signing secret(s), comma-separated (one v1= each)")
    parser.add_argument("--day", type=date.fromisoformat, required=True, help="UTC day whose events to push")
    parser.add_argument("--version", type=int, choices=(3, 4), default=4, help="webhook format: v4 or legacy v3")
    parser.add_argument("--share", type=float, default=1.0, help="share of the day's events pushed")
    parser.add_argument("--seed", type=int, default=1, help="must match the simulator's --seed")
    parser.add_argument("--events-per-day", type=int, default=2000, help="must match the simulator's")
    return parser


def serve(argv: Sequence[str]) -> int:
    parser = serve_parser()
    try:
        config = SimulatorConfig(**vars(parser.parse_args(argv)))
    except ValueError as exc:
        parser.error(str(exc))
    handle = start(config)
    print(f"Fingerprint Server API simulator listening on {handle.url} (seed {config.seed})", flush=True)
    print(f"  curl -H 'Auth-API-Key: {handle.api_key}' {handle.url}/events/<request_id>", flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is the documented way to stop
        stopped.wait()
    handle.stop()
    return 0


def write_log(argv: Sequence[str]) -> int:
    a = log_parser().parse_args(argv)
    sealed = None
    if a.sealed_key:
        sealed = SealedLogs(base64.b64decode(a.sealed_key), a.sealed_share, a.sealed_version)
    population = Population(a.seed, a.events_per_day)
    for path in write_demo_logs(population, a.out, a.start, a.days, a.per_day, a.now_ms, sealed):
        print(path)
    return 0


def send_webhooks(argv: Sequence[str]) -> int:
    a = webhook_parser().parse_args(argv)
    population = Population(a.seed, a.events_per_day)
    statuses = send_day(population, a.url, a.day, a.version, a.secret.split(","), a.share)
    print(f"sent {sum(statuses.values())} v{a.version} webhooks for {a.day}: answers {statuses}")
    return 0 if set(statuses) <= {"200"} else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "write-log":
        return write_log(args[1:])
    if args and args[0] == "send-webhooks":
        return send_webhooks(args[1:])
    if args and args[0] == "serve":
        args = args[1:]
    return serve(args)


if __name__ == "__main__":
    sys.exit(main())
