"""`python -m pipelines.webhooks serve [--host] [--port] [--insecure-no-signature]` runs the webhook receiver;
`python -m pipelines.webhooks land` moves acknowledged webhooks from the inbox into bronze now.

Settings come from the environment (`pipelines.settings`), the signing secret(s) from FINGERPRINT_WEBHOOK_SECRET.
Without a secret the receiver refuses to start, unless told `--insecure-no-signature` (for a receiver reached
only through something that already authenticates Fingerprint).
"""

from __future__ import annotations

import argparse
import socket
import sys
from collections.abc import Sequence

import uvicorn

from pipelines.push import land_webhooks
from pipelines.settings import WEBHOOK_SECRET_ENV, Settings, SettingsError, secret
from pipelines.tables import open_warehouse
from pipelines.webhooks.inbox import INBOX_LOCK
from pipelines.webhooks.receiver import ReceiverConfig, create_app
from pipelines.webhooks.signature import WebhookSecrets


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="./fpwh webhooks", description=__doc__.splitlines()[0])
    commands = main.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the webhook receiver until interrupted (Ctrl-C, SIGTERM)")
    serve.add_argument("--host", help="interface to listen on (default FPWH_WEBHOOK_HOST)")
    serve.add_argument("--port", type=int, help="TCP port, 0 for any free one (default FPWH_WEBHOOK_PORT)")
    serve.add_argument(
        "--insecure-no-signature",
        action="store_true",
        help="accept unsigned webhooks (only behind a proxy that authenticates Fingerprint)",
    )
    commands.add_parser("land", help="move acknowledged webhooks from the inbox into bronze now")
    return main


def receiver_config(settings: Settings, secrets: WebhookSecrets | None) -> ReceiverConfig:
    store = open_warehouse(settings.warehouse)
    state = store.state
    return ReceiverConfig(
        inbox_dir=state.webhook_inbox_dir,
        bronze=store.bronze,
        lock_path=state.lock_path(INBOX_LOCK),
        secrets=secrets,
        max_body_bytes=settings.webhooks.max_body_bytes,
        land_interval_s=settings.webhooks.land_interval_s,
        log=log,
    )


def serve(settings: Settings, args: argparse.Namespace) -> int:
    secrets = WebhookSecrets.from_text(secret(WEBHOOK_SECRET_ENV))
    if not len(secrets) and not args.insecure_no_signature:
        log(
            f"{WEBHOOK_SECRET_ENV} is not set: export your webhook signing secret (Fingerprint dashboard → "
            "Webhooks), comma-separated during a rotation, or pass --insecure-no-signature"
        )
        return 2
    host = args.host or settings.webhooks.host
    port = settings.webhooks.port if args.port is None else args.port
    sock = socket.create_server((host, port), reuse_port=False)
    bound = sock.getsockname()[1]
    signed = f"{len(secrets)} signing secret(s)" if len(secrets) else "NO SIGNATURE CHECK (--insecure-no-signature)"
    log(f"webhook receiver listening on http://{host}:{bound} (POST /, v3 and v4 webhooks; {signed})")
    app = create_app(receiver_config(settings, secrets if len(secrets) else None))
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=10)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


def land(settings: Settings) -> int:
    store = open_warehouse(settings.warehouse)
    report = land_webhooks(store.state, store.bronze, log=log)
    log(
        f"landed {report.events} events from {report.segments} segments ({report.duplicates} duplicates skipped, "
        f"{report.live_segments} live segments left to their receiver)"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = Settings.from_env(require_key=False)
    except SettingsError as error:
        log(f"fix these settings first:\n{error}")
        return 2
    return serve(settings, args) if args.command == "serve" else land(settings)


if __name__ == "__main__":
    raise SystemExit(main())
