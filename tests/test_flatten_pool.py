"""The parallel flatten driver: worker processes give what `flatten` gives, in input order, with bounded memory."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import orjson
import polars as pl
from polars.testing import assert_frame_equal

from pipelines.flatten_pool import BodyBatch, FlatBatch, flatten_batches, worker_pool
from simulator.population import Population
from transforms.flatten import flatten


def simulator_batches(count: int, size: int) -> list[BodyBatch]:
    """`count` batches of real simulator bodies, alternating API versions, each with one broken body."""
    population = Population(seed=11, events_per_day=count * size)
    ids = [rid for _, rid in population.day_events(date(2026, 11, 20))][: count * size]
    batches = []
    for b in range(count):
        chunk = ids[b * size : (b + 1) * size]
        version = 3 if b % 2 == 0 else 4
        render = population.event_v3 if version == 3 else population.event_v4
        bodies = [orjson.dumps(render(rid)) for rid in chunk]
        bodies[b % size] = bodies[b % size][:-7]  # truncated JSON: quarantined, never fatal
        batches.append(BodyBatch(chunk, bodies, version))
    return batches


def assert_same_as_in_process(got: FlatBatch, batch: BodyBatch) -> None:
    want = flatten(batch.request_ids, batch.bodies, batch.api_versions)
    for name, frame in want.tables.items():
        assert_frame_equal(pl.from_arrow(got.tables[name]), frame, check_exact=True)
    assert_frame_equal(pl.from_arrow(got.quarantine), want.quarantine, check_exact=True)
    assert list(got.unknown_fields.items()) == list(want.unknown_fields.items())
    assert (got.events_in, got.events_quarantined, got.events_walked) == (
        want.events_in,
        want.events_quarantined,
        want.events_walked,
    )


def test_workers_return_what_flatten_returns_batch_by_batch_in_input_order():
    batches = simulator_batches(count=6, size=40)
    results = list(flatten_batches(batches, workers=2))
    assert len(results) == len(batches)
    for got, batch in zip(results, batches, strict=True):
        assert got.tables["events"].column("request_id").to_pylist() == [
            rid for rid, body in zip(batch.request_ids, batch.bodies, strict=True) if body.endswith(b"}")
        ]
        assert_same_as_in_process(got, batch)
    assert [r.events_quarantined for r in results] == [1] * 6


def test_one_worker_flattens_in_this_process_with_the_same_results():
    batches = simulator_batches(count=2, size=30)
    for got, batch in zip(flatten_batches(batches, workers=1), batches, strict=True):
        assert_same_as_in_process(got, batch)


def test_no_more_than_in_flight_batches_are_taken_from_the_input_before_their_results_are_consumed():
    batches = simulator_batches(count=8, size=10)
    taken: list[int] = []

    def source() -> Iterator[BodyBatch]:
        for i, batch in enumerate(batches):
            taken.append(i)
            yield batch

    consumed = 0
    for _ in flatten_batches(source(), workers=2, in_flight=3):
        consumed += 1
        assert len(taken) - consumed <= 3 - 1  # the driver holds at most in_flight, one of which it just gave
    assert consumed == len(taken) == 8


def test_a_shared_pool_serves_several_inputs():
    batches = simulator_batches(count=4, size=10)
    with worker_pool(2) as pool:
        first = list(flatten_batches(batches[:2], pool=pool))
        second = list(flatten_batches(batches[2:], pool=pool))
    for got, batch in zip([*first, *second], batches, strict=True):
        assert_same_as_in_process(got, batch)
