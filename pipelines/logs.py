"""The application-log edge: find log files by glob, stream their lines (plain or gzip) into the parser.

Files are read in binary with bounded line reads, so memory stays constant whatever a file's size: a line
longer than `LogOptions.max_line_bytes` is read past in chunks and rejected as `line_too_long`, never loaded
whole. Parsing itself is `transforms.applog`; this module only does the I/O around it.

Each real file is read once, however many paths lead to it: log directories hold `app-current.log` symlinks
to today's file, hard links left by rotation, and now and then a symlink loop. Files are told apart by device
and inode, `**` walks each real directory once (so a loop is entered once, where `glob` would follow it 40
levels deep, or exponentially often with two loops), and every path skipped is reported with the path read.
"""

from __future__ import annotations

import glob
import gzip
import os
import zlib
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import BinaryIO

import polars as pl

from transforms.applog import (
    DEFAULT_OPTIONS,
    OCCURRENCE_SCHEMA,
    REJECT_SCHEMA,
    SEALED_SCHEMA,
    LogOptions,
    ParsedBatch,
    detect_format,
    parse_lines,
    reject_batch,
)

_GZIP_MAGIC = b"\x1f\x8b"
_BOM = b"\xef\xbb\xbf"
_SAMPLE_LINES = 20
_SKIP_CHUNK = 256 << 10
_MAX_BATCH_BYTES = 64 << 20  # a batch of long lines flushes early, so memory stays bounded
_CORRUPT_GZIP = (gzip.BadGzipFile, EOFError, zlib.error)


class LogFileError(Exception):
    """A matched log file cannot be read (permissions, vanished, I/O error): the user has to fix it."""


@dataclass(frozen=True, slots=True)
class LogReadResult:
    """Everything read from the files a glob matched: occurrences, rejects and reject counts by reason.

    `rejects`/`reject_counts` are never day-filtered: a reject has no trustworthy day, and `bad_timestamp`
    (whose line is also an occurrence) says something about the file's format that is worth seeing on any
    day's run. `lines_read` counts every line, blank ones included. `aliases_skipped` lists the
    (alias, path read instead) pairs of `LogFiles`, for the run's metadata. `sealed` holds the events opened from
    sealed client results (day-filtered like the occurrences, one row per line that carried one).
    """

    occurrences: pl.DataFrame
    rejects: pl.DataFrame
    reject_counts: dict[str, int]
    files: list[str]
    lines_read: int
    aliases_skipped: list[tuple[str, str]] = field(default_factory=list)
    sealed: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=SEALED_SCHEMA))


@dataclass(frozen=True, slots=True)
class LogFiles:
    """The files one glob or several matched, each real file once, and the paths skipped as aliases.

    `aliases_skipped` holds (alias, path read instead) pairs: a second path to a file already listed (a
    symlink, a hard link) or a directory `**` had already walked (a symlink to it, a loop). Of the paths to
    one file, the first that is not itself a symlink is read, so a file is named as it is, not by its alias.
    """

    paths: list[str]
    aliases_skipped: list[tuple[str, str]]


def find_log_files(pattern: str | list[str]) -> list[str]:
    """The paths of `match_log_files(pattern)`: each real file once."""
    return match_log_files(pattern).paths


def match_log_files(pattern: str | list[str]) -> LogFiles:
    """The regular files matched by one glob or several (`**` recurses, `~` expands), sorted within each
    pattern, each real file once (by device and inode), in pattern order. An existing file's path is taken
    literally, so a name such as `app[1].log` is not read as a pattern."""
    patterns = [pattern] if isinstance(pattern, str | os.PathLike) else list(pattern)
    found: dict[str, None] = {}
    skipped: list[tuple[str, str]] = []
    for one in patterns:
        expanded = os.path.expanduser(os.fspath(one))
        if os.path.isfile(expanded):
            found[expanded] = None
            continue
        matches, directory_aliases = _glob(expanded)
        found.update((path, None) for path in sorted(matches) if os.path.isfile(path))
        skipped += directory_aliases
    paths, file_aliases = _one_path_per_file(list(found))
    return LogFiles(paths, skipped + file_aliases)


def _glob(pattern: str) -> tuple[list[str], list[tuple[str, str]]]:
    """`glob.glob(pattern, recursive=True)`, except that `**` walks each real directory once."""
    parts = pattern.split(os.sep)
    if "**" not in parts:
        return glob.glob(pattern), []
    at = parts.index("**")
    head = os.sep.join(parts[:at]) or (os.sep if pattern.startswith(os.sep) else "")
    rest = os.sep.join(parts[at + 1 :]) or "*"
    bases = glob.glob(head) if glob.escape(head) != head else [head]
    matches: list[str] = []
    aliases: list[tuple[str, str]] = []
    for base in bases:
        directories, skipped = _directories(base)
        aliases += skipped
        for directory in directories:
            found, deeper = _glob(os.path.join(glob.escape(directory), rest))
            matches += found
            aliases += deeper
    return matches, aliases


def _directories(base: str) -> tuple[list[str], list[tuple[str, str]]]:
    """`base` and the directories below it that `**` reaches (hidden ones excluded, as `glob` does), each real
    directory once. Real subdirectories come first and symlinked ones after, so a directory is named by its
    own path when both lead to it; a symlink to a directory already reached is skipped and reported."""
    reached: dict[tuple[int, int], str] = {}
    directories: list[str] = []
    aliases: list[tuple[str, str]] = []
    real, linked = [base], []
    while real or linked:
        path = real.pop() if real else linked.pop(0)
        try:
            info = os.stat(path or os.curdir)
        except OSError:
            continue  # vanished, or a dangling or looping symlink: glob skips those too
        key = (info.st_dev, info.st_ino)
        if key in reached:
            aliases.append((path, reached[key]))
            continue
        reached[key] = path
        directories.append(path)
        for name, is_link in _subdirectories(path):
            (linked if is_link else real).append(os.path.join(path, name))
    return directories, aliases


def _subdirectories(path: str) -> list[tuple[str, bool]]:
    """The non-hidden subdirectories of `path` (symlinks to directories included), sorted, with is-a-symlink."""
    try:
        with os.scandir(path or os.curdir) as entries:
            found = [(e.name, e.is_symlink()) for e in entries if not e.name.startswith(".") and e.is_dir()]
    except OSError:
        return []  # unreadable: glob skips it too
    return sorted(found)


def _one_path_per_file(paths: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """Paths grouped by the file they lead to: one per file, in first-seen order, and the others as aliases."""
    groups: dict[object, list[str]] = {}
    for path in paths:
        try:
            info = os.stat(path)
            key: object = (info.st_dev, info.st_ino)
        except OSError:
            key = path  # gone since the glob: reading it will say so, with its path
        groups.setdefault(key, []).append(path)
    kept: list[str] = []
    aliases: list[tuple[str, str]] = []
    for group in groups.values():
        read = group[0] if len(group) == 1 else _truest_path(group)
        kept.append(read)
        aliases += [(path, read) for path in group if path != read]
    return kept, aliases


def _truest_path(paths: list[str]) -> str:
    """Of several paths to one file, the one that names it as it is: no symlink on the way, else not a
    symlink itself (a hard link, or a file in a symlinked directory), else the first."""
    for unaliased in (lambda p: os.path.realpath(p) == os.path.abspath(p), lambda p: not os.path.islink(p)):
        for path in paths:
            if unaliased(path):
                return path
    return paths[0]


def iter_log_batches(
    pattern: str | list[str], options: LogOptions = DEFAULT_OPTIONS, batch_lines: int = 50_000
) -> Iterator[ParsedBatch]:
    """Parsed batches of at most `batch_lines` lines, file by file (a batch never spans two files)."""
    for path in find_log_files(pattern):
        yield from _file_batches(path, options, batch_lines)


def read_logs(
    pattern: str | list[str], options: LogOptions = DEFAULT_OPTIONS, day: date | None = None
) -> LogReadResult:
    """Read every file matched by `pattern`; with `day`, keep only occurrences whose `log_day` is that day.

    A glob that matches nothing gives empty typed frames and `files == []`: the caller decides if that is
    an error.
    """
    matched = match_log_files(pattern)
    files = matched.paths
    occurrences = [pl.DataFrame(schema=OCCURRENCE_SCHEMA)]
    rejects = [pl.DataFrame(schema=REJECT_SCHEMA)]
    sealed = [pl.DataFrame(schema=SEALED_SCHEMA)]
    counts: Counter[str] = Counter()
    lines = 0
    for path in files:
        for batch in _file_batches(path, options, 50_000):
            occurrences.append(batch.occurrences)
            rejects.append(batch.rejects)
            sealed.append(batch.sealed)
            counts.update(batch.reject_counts)
            lines += batch.lines
    found, opened = pl.concat(occurrences), pl.concat(sealed)
    if day is not None:
        found, opened = found.filter(pl.col("log_day") == day), opened.filter(pl.col("log_day") == day)
    return LogReadResult(found, pl.concat(rejects), dict(counts), files, lines, matched.aliases_skipped, opened)


def request_ids_to_fetch(occurrences: pl.DataFrame) -> list[str]:
    """The distinct request IDs of `occurrences`, in first-seen order: each is fetched once."""
    return occurrences.get_column("request_id").unique(maintain_order=True).to_list()


def _file_batches(path: str, options: LogOptions, batch_lines: int) -> Iterator[ParsedBatch]:
    """One file's batches; a corrupt gzip stream ends the file with a `corrupt_gzip` reject."""
    stored: Counter[str] = Counter()  # reject examples stored so far, for the per-file cap
    pending: list[tuple[int, bytes]] = []
    fmt, line_number, size, corrupt = options.format, 0, 0, None
    with _open_log(path) as stream:
        try:
            for line_number, raw in _numbered_lines(stream, options.max_line_bytes):
                pending.append((line_number, raw))
                size += len(raw)
                if len(pending) >= batch_lines or size >= _MAX_BATCH_BYTES:
                    fmt = _settled(fmt, pending)
                    yield _parse(pending, path, fmt, options, stored)
                    pending, size = [], 0
        except _CORRUPT_GZIP as exc:
            corrupt = f"{type(exc).__name__}: {exc}"
        except OSError as exc:
            raise LogFileError(_unreadable(path, exc)) from exc
    if pending:
        yield _parse(pending, path, _settled(fmt, pending), options, stored)
    if corrupt is not None:
        yield reject_batch(path, line_number + 1, "corrupt_gzip", corrupt)


def _settled(fmt: str, lines: list[tuple[int, bytes]]) -> str:
    """The file's format: as configured, or detected from the first non-blank lines of its first batch."""
    if fmt != "auto":
        return fmt
    sample = [raw for _, raw in lines[: 4 * _SAMPLE_LINES] if not raw.isspace()]
    return detect_format(sample[:_SAMPLE_LINES])


def _parse(
    pending: list[tuple[int, bytes]], path: str, fmt: str, options: LogOptions, stored: Counter[str]
) -> ParsedBatch:
    batch = parse_lines(pending, path, fmt, options, stored)
    stored.update(batch.rejects.get_column("reason").to_list())
    return batch


def _numbered_lines(stream: BinaryIO, max_line_bytes: int) -> Iterator[tuple[int, bytes]]:
    """1-based numbered lines; an over-long line is cut to a prefix over the limit, its rest skipped."""
    limit = max_line_bytes + 2  # room for "\r\n" after a line of exactly the maximum length
    number = 0
    while line := stream.readline(limit):
        number += 1
        if number == 1 and line.startswith(_BOM):
            line = line[len(_BOM) :]
        if len(line) == limit and not line.endswith(b"\n"):
            _skip_rest_of_line(stream)
        yield number, line


def _skip_rest_of_line(stream: BinaryIO) -> None:
    while (chunk := stream.readline(_SKIP_CHUNK)) and not chunk.endswith(b"\n"):
        pass


@contextmanager
def _open_log(path: str) -> Iterator[BinaryIO]:
    """Open a log file for binary reading, gunzipping it when it starts with the gzip magic bytes."""
    try:
        raw = open(path, "rb")  # noqa: SIM115 (closed by the with below)
    except OSError as exc:
        raise LogFileError(_unreadable(path, exc)) from exc
    with raw:
        try:
            magic = raw.peek(2)[:2]
        except OSError as exc:
            raise LogFileError(_unreadable(path, exc)) from exc
        if magic != _GZIP_MAGIC:
            yield raw
            return
        with gzip.GzipFile(fileobj=raw, mode="rb") as unzipped:
            yield unzipped


def _unreadable(path: str, exc: OSError) -> str:
    reason = exc.strerror or str(exc)
    return (
        f"cannot read application log {path}: {reason}. Check that it exists and that this process may "
        "read it, or change the log glob so it no longer matches this file."
    )
