"""Flatten batches of raw bodies in worker processes: every core busy, results in input order, memory bounded.

The flattener is CPU-bound Python, so threads would share one core; processes do not. Each worker takes one
batch of (request_id, body, api_version) and returns a `FlatBatch`: the tables as Arrow tables, whose pickle
is a copy of their buffers (a polars frame pickles through IPC serialization, three times the CPU), plus the
quarantine and unknown-field accounting. At most `in_flight` batches are submitted and not yet consumed, so
memory holds a few batches whatever the input's size, and results come back in the order the batches went in.

Nothing here knows where the tables go: callers write them (one Parquet file per day today, other tables
later) and add up the quarantine and unknown-field accounting as they would for an in-process `flatten`.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass

import pyarrow as pa

from transforms.flatten import FlattenResult, flatten


@dataclass(frozen=True)
class BodyBatch:
    """One batch of raw responses to flatten: request IDs, bodies and their API versions, aligned."""

    request_ids: Sequence[str]
    bodies: Sequence[bytes | str]
    api_versions: Sequence[int] | int = 3

    def flatten(self) -> FlatBatch:
        return FlatBatch.of(flatten(self.request_ids, self.bodies, self.api_versions))


@dataclass(frozen=True)
class FlatBatch:
    """A flattened batch as Arrow tables (catalog order and types), with its accounting."""

    tables: dict[str, pa.Table]
    quarantine: pa.Table
    unknown_fields: Counter[str]
    events_in: int
    events_quarantined: int
    events_walked: int

    @classmethod
    def of(cls, result: FlattenResult) -> FlatBatch:
        return cls(
            tables={name: df.to_arrow() for name, df in result.tables.items()},
            quarantine=result.quarantine.to_arrow(),
            unknown_fields=result.unknown_fields,
            events_in=result.events_in,
            events_quarantined=result.events_quarantined,
            events_walked=result.events_walked,
        )


def default_workers() -> int:
    """All cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _flatten_in_worker(batch: BodyBatch) -> FlatBatch:
    return batch.flatten()


def worker_pool(workers: int | None = None) -> ProcessPoolExecutor:
    """A pool of flatten workers, started from a fork server that has already imported the flattener.

    Not `fork`: the parent may hold polars' or Dagster's threads, which a forked child inherits broken. The
    fork server imports `transforms.flatten` once, so each worker starts in milliseconds, not seconds.
    """
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["transforms.flatten"])
    return ProcessPoolExecutor(max_workers=workers or default_workers(), mp_context=context)


def flatten_batches(
    batches: Iterable[BodyBatch],
    workers: int | None = None,
    in_flight: int | None = None,
    pool: ProcessPoolExecutor | None = None,
) -> Iterator[FlatBatch]:
    """Flatten every batch, `workers` at a time (default: all cores), yielding results in input order.

    `workers=1` flattens in this process (no pool, no copies): the right choice for small inputs. A caller
    that flattens many inputs passes its own `pool` to pay for the workers' start once.
    """
    workers = workers or default_workers()
    if workers == 1 and pool is None:
        yield from (batch.flatten() for batch in batches)
        return
    in_flight = in_flight or 2 * workers
    own = pool is None
    executor = pool or worker_pool(workers)
    pending: deque[Future[FlatBatch]] = deque()
    try:
        for batch in batches:
            pending.append(executor.submit(_flatten_in_worker, batch))
            if len(pending) >= in_flight:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()
        if own:
            executor.shutdown(wait=True, cancel_futures=True)
