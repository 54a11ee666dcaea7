"""Whole immutable files under a warehouse `Location`: written at once, listed, read, deleted.

Every file the warehouse writes (bronze parts, lake data files) is written once under a new name and never
changed, so the only guarantee needed is that a reader never sees half a file: locally a file is written under a
hidden temp name, fsynced and renamed (`atomic.replacing`); in an object store an object appears whole when its
upload completes. The same calls serve both.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from pipelines.storage.atomic import is_temp, replacing
from pipelines.storage.location import Location


@dataclass(frozen=True)
class StoredFile:
    name: str
    path: str  # filesystem path
    size: int
    mtime: float  # seconds since the epoch


class FileStore:
    """Files below `location` (paths given relative to its root, with `/`)."""

    def __init__(self, location: Location) -> None:
        self.location = location
        self.fs = location.filesystem

    def path(self, rel: str) -> str:
        return self.location.path(rel)

    def relative(self, uri_or_path: str) -> str:
        """The path below the root of a URI or filesystem path inside this location."""
        path = self.location.strip(uri_or_path)
        prefix = self.location.root.rstrip("/") + "/"
        if not path.startswith(prefix):
            raise ValueError(f"{uri_or_path} is not below {self.location.uri()}")
        return path[len(prefix) :]

    def write(self, rel: str, write: Callable[[BinaryIO], None]) -> str:
        """Write a whole new file at `rel` through `write(stream)`; return its filesystem path."""
        with self.writing(rel) as stream:
            write(stream)
        return self.path(rel)

    @contextlib.contextmanager
    def writing(self, rel: str) -> Iterator[BinaryIO]:
        """A stream for a whole new file at `rel`: the file appears when the block ends, never on an error."""
        path = self.path(rel)
        if self.location.is_remote:  # an object appears whole when its upload completes
            stream = self.fs.open_output_stream(path)
            try:
                yield stream  # type: ignore[misc]
            except BaseException:
                stream.close()  # pyarrow has no abort: finish the upload, then remove what nobody references
                self.delete(path)
                raise
            stream.close()
            return
        with replacing(Path(path)) as tmp, open(tmp, "wb") as fh:
            yield fh
            fh.flush()

    def write_parquet(self, rel: str, table: pa.Table, **options: object) -> str:
        return self.write(rel, lambda stream: pq.write_table(table, stream, **options))

    def list(self, rel_dir: str) -> list[StoredFile]:
        """The finished files directly in `rel_dir` (never a temp file of a writer), by name; [] if absent."""
        selector = pafs.FileSelector(self.path(rel_dir), allow_not_found=True)
        found = []
        for info in self.fs.get_file_info(selector):
            if info.type != pafs.FileType.File or is_temp(Path(info.base_name)):
                continue
            mtime = info.mtime.timestamp() if info.mtime is not None else 0.0
            found.append(StoredFile(info.base_name, info.path, info.size or 0, mtime))
        return sorted(found, key=lambda f: f.name)

    def list_all(self, rel_dir: str) -> list[StoredFile]:
        """Every file directly in `rel_dir`, temp files included (for the debris sweep); [] if absent."""
        selector = pafs.FileSelector(self.path(rel_dir), allow_not_found=True)
        infos = [i for i in self.fs.get_file_info(selector) if i.type == pafs.FileType.File]
        return [StoredFile(i.base_name, i.path, i.size or 0, i.mtime.timestamp() if i.mtime else 0.0) for i in infos]

    def list_dirs(self, rel_dir: str) -> list[str]:
        selector = pafs.FileSelector(self.path(rel_dir), allow_not_found=True)
        return sorted(i.base_name for i in self.fs.get_file_info(selector) if i.type == pafs.FileType.Directory)

    def walk(self, rel_dir: str) -> Iterator[StoredFile]:
        """Every file below `rel_dir`, recursively (temp files included: the debris sweep wants them)."""
        selector = pafs.FileSelector(self.path(rel_dir), allow_not_found=True, recursive=True)
        for info in self.fs.get_file_info(selector):
            if info.type == pafs.FileType.File:
                mtime = info.mtime.timestamp() if info.mtime is not None else 0.0
                yield StoredFile(info.base_name, info.path, info.size or 0, mtime)

    @contextlib.contextmanager
    def open_parquet(self, path: str) -> Iterator[pq.ParquetFile]:
        """A Parquet file by filesystem path, read through one open handle (FileNotFoundError if gone)."""
        with self.fs.open_input_file(path) as handle:
            yield pq.ParquetFile(handle)

    def delete(self, path: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.delete_file(path)

    def exists(self, path: str) -> bool:
        return self.fs.get_file_info(path).type == pafs.FileType.File
