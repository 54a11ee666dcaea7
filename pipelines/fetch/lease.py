"""The per-day fetch lease: at most one run fetches a day at a time, on any machine (issue 18 item 3).

Two runs of the same day (an operator's re-run during the nightly one, two workers of a backfill) would both take
the day's queue and fetch every ID twice, spending the key's budget twice. So a run holds the lease `fetch:DAY` in
the state store (the catalog database every machine shares) while it fetches; a second run waits until the lease
is released, then re-reads bronze and fetches only what is still without a final outcome (usually nothing).

The lease is renewed by a background thread every TTL/3, so a live holder keeps it however slow its fetch is. A
holder killed with `kill -9` stops renewing: another machine takes the lease once it expires (TTL); a run on the
same machine sees at once that the holder's process is gone and takes it without waiting.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date

from pipelines.state import StateStore

LEASE_TTL_S = 30.0
WAIT_POLL_S = 0.5
WAIT_LOG_EVERY_S = 30.0


def lease_name(day: date) -> str:
    return f"fetch:{day.isoformat()}"


def new_holder() -> str:
    """`host:pid:random`: unique per run, and telling a run on the same host whether the holder still lives."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def holder_is_dead(holder: str) -> bool:
    """True when `holder` ran on this host in a process that no longer exists (killed before releasing)."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit() or int(pid_text) == os.getpid():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


@contextmanager
def day_fetch_lease(
    state: StateStore, day: date, log: Callable[[str], None], ttl_s: float = LEASE_TTL_S
) -> Iterator[float]:
    """Hold the day's fetch lease for the block, waiting first while another live run holds it.

    Yields the seconds spent waiting (0 when the day was free), so the caller knows bronze may have changed.
    """
    name, holder = lease_name(day), new_holder()
    started = time.monotonic()
    logged = 0.0
    while (current := state.take_lease(name, holder, ttl_s)) is not None:
        if holder_is_dead(current):
            state.release_lease(name, current)  # only that holder's row: a live newcomer's is kept
            continue
        waited = time.monotonic() - started
        if waited >= logged:
            log(f"{day} is being fetched by another run ({current.split(':')[0]}); waiting for it to finish")
            logged = waited + WAIT_LOG_EVERY_S
        time.sleep(WAIT_POLL_S)
    waited = time.monotonic() - started
    stop = threading.Event()
    renewer = threading.Thread(target=_renew, args=(state, name, holder, ttl_s, stop, log), daemon=True)
    renewer.start()
    try:
        yield waited
    finally:
        stop.set()
        renewer.join()
        state.release_lease(name, holder)


def _renew(state: StateStore, name: str, holder: str, ttl_s: float, stop: threading.Event, log: Callable) -> None:
    while not stop.wait(ttl_s / 3):
        try:
            other = state.take_lease(name, holder, ttl_s)
        except Exception as error:  # a database hiccup: the next renewal retries well before the lease expires
            log(f"renewing the fetch lease {name} failed ({type(error).__name__}); retrying")
            continue
        if other is not None:
            log(f"the fetch lease {name} expired and {other.split(':')[0]} took it; results may overlap")
            return
