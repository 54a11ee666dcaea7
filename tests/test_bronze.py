"""Bronze: append-only landing of fetch outcomes and raw bodies, and the rules for reading them back."""

from __future__ import annotations

import os
import re
import shutil
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import psutil
import pyarrow.parquet as pq
import pytest

from pipelines.api.results import FetchResult
from pipelines.storage import atomic
from pipelines.storage.bronze import BRONZE_DESCRIPTIONS, BRONZE_SCHEMA, Bronze, RawBodiesDropped
from pipelines.storage.files import FileStore
from pipelines.storage.location import Location

DAY = date(2024, 3, 1)
T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def fetch(request_id: str, outcome: str = "ok", minute: int = 0, body: bytes | None = None) -> FetchResult:
    if outcome == "ok" and body is None:
        body = f'{{"requestId": "{request_id}", "minute": {minute}}}'.encode()
    return FetchResult(
        request_id=request_id,
        outcome=outcome,  # type: ignore[arg-type]
        http_status={"ok": 200, "not_found": 404, "failed": 503}[outcome],
        error_code={"ok": None, "not_found": "RequestNotFound", "failed": "throttled"}[outcome],
        error_message=None if outcome == "ok" else "nope",
        attempts=1,
        latency_ms=12.5,
        fetched_at=T0 + timedelta(minutes=minute),
        body=body,
    )


def parts(bronze: Bronze, day: date = DAY) -> list[Path]:
    return [Path(p.path) for p in bronze.parts(day)]


def all_bodies(bronze: Bronze, day: date = DAY, batch_rows: int = 20_000) -> pl.DataFrame:
    return pl.concat(bronze.ok_bodies(day, batch_rows=batch_rows)).sort("request_id")


@pytest.fixture
def bronze(tmp_path: Path) -> Bronze:
    return Bronze(FileStore(Location.parse(str(tmp_path))))


def test_every_column_is_typed_and_described() -> None:
    assert list(BRONZE_DESCRIPTIONS) == list(BRONZE_SCHEMA)
    assert all(BRONZE_DESCRIPTIONS.values())
    assert BRONZE_SCHEMA["fetched_at"] == pl.Datetime("us", "UTC")
    assert BRONZE_SCHEMA["body"] == pl.Binary


def test_each_append_lands_one_new_zstd_part_file_named_by_day_time_and_uuid(bronze: Bronze) -> None:
    first = bronze.append(DAY, [fetch("a"), fetch("b", "failed")])
    second = bronze.append(DAY, [fetch("c", "not_found")])

    assert first is not None and second is not None
    assert parts(bronze) == sorted([Path(first), Path(second)])
    first = Path(first)
    assert first.parent == Path(bronze.files.path("bronze/fetches/day=2024-03-01"))
    assert re.fullmatch(r"part-\d{8}T\d{12}Z-[0-9a-f]{32}\.parquet", first.name)
    assert pq.ParquetFile(first).metadata.row_group(0).column(10).compression == "ZSTD"
    assert pl.read_parquet(first).schema == BRONZE_SCHEMA


def test_appending_nothing_writes_nothing(bronze: Bronze) -> None:
    assert bronze.append(DAY, []) is None
    assert bronze.days() == []


def test_bodies_read_back_byte_identical(bronze: Bronze) -> None:
    raw = bytes(range(256)) + "é😀".encode() + b"\x00\xff"
    bronze.append(DAY, [fetch("a", body=raw), fetch("b", body=b"{}")])

    bodies = all_bodies(bronze)

    assert bodies.columns == ["request_id", "fetched_at", "api_version", "method", "body"]
    assert bodies["body"].to_list() == [raw, b"{}"]


def test_a_later_failure_never_hides_an_earlier_ok(bronze: Bronze) -> None:
    bronze.append(DAY, [fetch("a", "ok", minute=1)])
    bronze.append(DAY, [fetch("a", "failed", minute=2)])

    assert bronze.outcomes(DAY)["outcome"].to_list() == ["ok"]


def test_ok_beats_not_found_beats_failed_whatever_the_order(bronze: Bronze) -> None:
    bronze.append(DAY, [fetch("a", "ok", 1), fetch("b", "not_found", 1), fetch("c", "failed", 1)])
    bronze.append(DAY, [fetch("a", "not_found", 2), fetch("b", "failed", 2), fetch("c", "not_found", 2)])
    bronze.append(DAY, [fetch("a", "failed", 3), fetch("b", "ok", 3)])

    outcomes = bronze.outcomes(DAY)

    assert outcomes.select("request_id", "outcome").rows() == [("a", "ok"), ("b", "ok"), ("c", "not_found")]
    assert "body" not in outcomes.columns


def test_the_latest_record_wins_within_the_same_outcome(bronze: Bronze) -> None:
    bronze.append(DAY, [fetch("a", "ok", minute=5), fetch("f", "failed", minute=1)])
    bronze.append(DAY, [fetch("a", "ok", minute=9), fetch("f", "failed", minute=7)])

    outcomes = bronze.outcomes(DAY)

    assert outcomes["fetched_at"].to_list() == [T0 + timedelta(minutes=9), T0 + timedelta(minutes=7)]
    assert all_bodies(bronze)["body"].to_list() == [b'{"requestId": "a", "minute": 9}']


def test_done_ids_are_those_ok_or_not_found_and_never_to_fetch_again(bronze: Bronze) -> None:
    bronze.append(DAY, [fetch("a", "ok"), fetch("b", "not_found"), fetch("c", "failed")])
    bronze.append(DAY, [fetch("a", "failed", minute=1)])

    assert bronze.done_ids(DAY) == {"a", "b"}


def test_all_fetches_keeps_every_attempt_without_bodies(bronze: Bronze) -> None:
    bronze.append(DAY, [fetch("a", "failed", 1), fetch("b", "ok", 1)])
    bronze.append(DAY, [fetch("a", "ok", 2)])

    fetches = bronze.all_fetches(DAY)

    assert fetches.select("request_id", "outcome").rows() == [("a", "failed"), ("b", "ok"), ("a", "ok")]
    assert "body" not in fetches.columns


def test_days_lists_the_days_that_hold_parts(bronze: Bronze) -> None:
    bronze.append(date(2024, 3, 2), [fetch("a")])
    bronze.append(DAY, [fetch("b")])

    assert bronze.days() == [DAY, date(2024, 3, 2)]


def test_an_unknown_day_reads_as_empty_with_the_schema(bronze: Bronze) -> None:
    assert bronze.outcomes(DAY).schema == pl.Schema({k: v for k, v in BRONZE_SCHEMA.items() if k != "body"})
    assert bronze.done_ids(DAY) == set()
    assert list(bronze.ok_bodies(DAY)) == []


def test_naive_fetch_times_are_refused(bronze: Bronze) -> None:
    naive = FetchResult("a", "failed", None, "timeout", "timed out", 3, 30_000.0, datetime(2024, 3, 1))

    with pytest.raises(ValueError, match="timezone-aware"):
        bronze.append(DAY, [naive])


def test_ok_bodies_come_in_batches_of_at_most_batch_rows_one_per_request_id(bronze: Bronze) -> None:
    for minute in range(3):
        bronze.append(DAY, [fetch(f"r{i:03}", "ok", minute) for i in range(250)])

    batches = list(bronze.ok_bodies(DAY, batch_rows=100))

    assert max(b.height for b in batches) <= 100
    bodies = pl.concat(batches)
    assert bodies["request_id"].n_unique() == bodies.height == 250
    assert bodies["fetched_at"].unique().to_list() == [T0 + timedelta(minutes=2)]


def test_ok_bodies_memory_does_not_grow_with_the_day(bronze: Bronze) -> None:
    body_size, per_part, n_parts = 20_000, 250, 30  # 150 MB of bodies, compressing to almost nothing
    for part in range(n_parts):
        results = [fetch(f"p{part}-{i}", body=b"x" * body_size + str(i).encode()) for i in range(per_part)]
        bronze.append(DAY, results)
    process = psutil.Process()
    baseline, peak, seen = process.memory_info().rss, 0, 0

    for batch in bronze.ok_bodies(DAY, batch_rows=100):
        seen += batch.height
        peak = max(peak, process.memory_info().rss - baseline)

    assert seen == per_part * n_parts
    assert peak < body_size * per_part * n_parts / 4


def test_compaction_merges_a_days_parts_into_one_file_keeping_every_record(bronze: Bronze) -> None:
    bronze.append(DAY, [fetch("a", "failed", 1), fetch("b", "ok", 1)])
    bronze.append(DAY, [fetch("a", "ok", 2), fetch("c", "not_found", 2)])
    before = (bronze.all_fetches(DAY), bronze.outcomes(DAY), all_bodies(bronze))

    merged = bronze.compact(DAY)

    assert len(merged) == 1 and parts(bronze) == [Path(merged[0])]
    after = (bronze.all_fetches(DAY), bronze.outcomes(DAY), all_bodies(bronze))
    assert all(old.equals(new) for old, new in zip(before, after, strict=True))
    assert bronze.compact(DAY) == []  # one part left: nothing to merge


def test_compaction_merges_a_bounded_group_at_a_time_never_a_second_copy_of_the_day(bronze: Bronze) -> None:
    for minute in range(12):
        bronze.append(DAY, [fetch(f"r{minute}-{i}", "ok", minute) for i in range(20)])
    before = (bronze.all_fetches(DAY), all_bodies(bronze))
    sizes = [p.stat().st_size for p in parts(bronze)]
    group = 3 * max(sizes)  # three parts a group: the day is four groups

    merged = bronze.compact(DAY, group_bytes=group)

    assert len(merged) == len(sizes) // 3 and sorted(map(str, parts(bronze))) == sorted(merged)
    after = (bronze.all_fetches(DAY), all_bodies(bronze))
    assert all(old.equals(new) for old, new in zip(before, after, strict=True))
    # each merge read at most `group` bytes of parts: the free space it needed, a quarter of the day here
    assert max(p.stat().st_size for p in parts(bronze)) <= group < sum(sizes)


def test_a_truncated_part_is_named_set_aside_and_its_ids_are_open_again(bronze: Bronze, caplog) -> None:
    bronze.append(DAY, [fetch("a", "ok", 1), fetch("b", "ok", 1)])
    bronze.append(DAY, [fetch("c", "ok", 2)])
    broken = parts(bronze)[1]
    broken.write_bytes(broken.read_bytes()[:-20])  # a copy cut short: the footer is gone
    reported = []
    bronze.on_corrupt = reported.append

    with caplog.at_level("WARNING", logger="pipelines.storage"):
        assert bronze.done_ids(DAY) == {"a", "b"}

    assert [(c.path, c.table, c.day) for c in reported] == [(str(broken), "bronze", DAY)]
    assert not broken.exists() and Path(reported[0].moved_to).is_file()
    assert str(broken) in caplog.text and "moved to" in caplog.text
    assert bronze.done_ids(DAY) == {"a", "b"} and len(reported) == 1  # once set aside, the day reads clean


def test_a_compaction_killed_between_rename_and_delete_counts_nothing_twice(bronze: Bronze) -> None:
    bronze.append(DAY, [fetch("a", "failed", 1), fetch("b", "ok", 1)])
    bronze.append(DAY, [fetch("a", "ok", 2)])
    before = bronze.all_fetches(DAY)
    for part in parts(bronze):  # what a merged file beside its not-yet-deleted parts looks like
        shutil.copy(part, part.with_name(part.name.replace("part-", "part-9")))

    assert bronze.all_fetches(DAY).equals(before)
    assert all_bodies(bronze).height == 2
    bronze.compact(DAY)
    assert pl.read_parquet(parts(bronze)[0]).height == 3


def test_temp_files_of_killed_writers_are_ignored_by_readers_and_compaction(bronze: Bronze) -> None:
    bronze.append(DAY, [fetch("a")])
    bronze.append(DAY, [fetch("b")])
    stale = atomic.temp_path_for(parts(bronze)[0])
    stale.write_bytes(b"half a parquet file from a killed run")

    assert bronze.done_ids(DAY) == {"a", "b"}
    bronze.compact(DAY)
    assert bronze.done_ids(DAY) == {"a", "b"} and len(parts(bronze)) == 1


def test_readers_running_during_compactions_always_see_each_record_once(bronze: Bronze) -> None:
    for minute in range(5):
        bronze.append(DAY, [fetch(f"r{i}", "ok" if i % 2 else "failed", minute) for i in range(200)])
    expected_fetches, expected_ok = bronze.all_fetches(DAY).height, 100
    stop = threading.Event()

    def duplicate_and_compact() -> None:
        while not stop.is_set():
            source = parts(bronze)[0]
            copy = atomic.temp_path_for(source)
            shutil.copy(source, copy)
            os.replace(copy, source.with_name(f"part-{threading.get_ident()}-{copy.name[-12:]}.parquet"))
            bronze.compact(DAY)

    compactor = threading.Thread(target=duplicate_and_compact)
    compactor.start()
    try:
        for _ in range(15):
            assert bronze.all_fetches(DAY).height == expected_fetches
            assert all_bodies(bronze).height == expected_ok
    finally:
        stop.set()
        compactor.join()


def test_every_ok_record_is_a_version_and_the_latest_is_the_event(bronze: Bronze) -> None:
    bronze.append(DAY, [fetch("a", "ok", 0), fetch("b", "ok", 0), fetch("c", "not_found", 0)])
    bronze.append(DAY, [fetch("a", "ok", 5)])
    bronze.compact(DAY)
    bronze.append(DAY, [fetch("a", "ok", 9)])

    versions = pl.concat(bronze.ok_versions(DAY, batch_rows=1)).sort("request_id", "fetched_at")

    assert versions.select("request_id", "fetched_at").rows() == [
        ("a", T0),
        ("a", T0 + timedelta(minutes=5)),
        ("a", T0 + timedelta(minutes=9)),
        ("b", T0),
    ]
    assert all_bodies(bronze).filter(pl.col("request_id") == "a")["body"].to_list() == [versions["body"][2]]


def test_dropping_bodies_keeps_every_record_and_makes_body_readers_refuse(bronze: Bronze) -> None:
    bronze.append(DAY, [fetch("a", "ok", 0), fetch("b", "not_found", 0)])
    bronze.append(DAY, [fetch("a", "ok", 5), fetch("c", "failed", 1)])
    records = bronze.all_fetches(DAY)

    assert bronze.drop_bodies(DAY) == 2

    assert bronze.all_fetches(DAY).equals(records)  # `fetches` and done_ids still know the day
    assert bronze.done_ids(DAY) == {"a", "b"}
    assert len(parts(bronze)) == 1
    assert pl.read_parquet(parts(bronze)[0])["body"].null_count() == records.height
    with pytest.raises(RawBodiesDropped, match=f"bodies of {DAY} were dropped by FPWH_RAW_RETENTION_DAYS"):
        list(bronze.ok_bodies(DAY))
    with pytest.raises(RawBodiesDropped) as versions:
        list(bronze.ok_versions(DAY))
    assert versions.value.missing == 2  # both versions of `a`
    assert bronze.drop_bodies(DAY) == 0  # nothing left to drop: the day is not rewritten again
    assert len(parts(bronze)) == 1


def test_a_day_without_ok_records_has_nothing_to_drop_and_reads_empty(bronze: Bronze) -> None:
    bronze.append(DAY, [fetch("x", "not_found", 0)])
    assert bronze.drop_bodies(DAY) == 0
    assert list(bronze.ok_bodies(DAY)) == []
