"""Where the warehouse lives: a local folder, or an `s3://bucket/prefix` in S3 or an S3-compatible store.

One `Location` answers every "where" question for both modes, so the storage code has one path: pyarrow's
filesystem for writes and reads of bronze and lake files, URIs for the Iceberg catalog and for DuckDB. Credentials
and the endpoint of an object store come from the standard `AWS_*` variables (`AWS_ACCESS_KEY_ID`,
`AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION` / `AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL`), read when a
filesystem is made, never stored.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow.fs as pafs


@dataclass(frozen=True)
class Location:
    """A warehouse root: `scheme` is `file` or `s3`; `root` is an absolute folder or `bucket/prefix`."""

    scheme: str
    root: str

    @classmethod
    def parse(cls, directory: str) -> Location:
        """`s3://bucket/prefix` or a local path (relative paths resolve against the working directory)."""
        if directory.startswith("s3://"):
            parts = urlsplit(directory)
            if not parts.netloc:
                raise ValueError(f"{directory!r} names no bucket: use s3://bucket/prefix")
            return cls("s3", f"{parts.netloc}/{parts.path.strip('/')}".rstrip("/"))
        return cls("file", str(Path(directory).expanduser().resolve()))

    @property
    def is_remote(self) -> bool:
        return self.scheme != "file"

    @property
    def local_root(self) -> Path:
        """The folder of a local warehouse (a remote one has none)."""
        if self.is_remote:
            raise ValueError(f"the warehouse {self.uri()} is not a local folder")
        return Path(self.root)

    def path(self, *parts: str) -> str:
        """A filesystem path (no scheme) below the root, as pyarrow's filesystem wants it."""
        return "/".join([self.root, *parts]) if parts else self.root

    def uri(self, *parts: str) -> str:
        """`file:///...` or `s3://bucket/...` below the root, as Iceberg records data files."""
        return f"{self.scheme}://{self.path(*parts)}" if self.is_remote else f"file://{self.path(*parts)}"

    def strip(self, uri: str) -> str:
        """The filesystem path of a URI below this location (the inverse of `uri`)."""
        return uri.split("://", 1)[1] if "://" in uri else uri

    @cached_property
    def filesystem(self) -> pafs.FileSystem:
        if not self.is_remote:
            return pafs.LocalFileSystem()
        return pafs.S3FileSystem(**s3_options())

    def iceberg_properties(self) -> dict[str, str]:
        """FileIO properties for pyiceberg (`s3.*`), from the same environment as `filesystem`."""
        if not self.is_remote:
            return {}
        env = os.environ
        properties = {
            "s3.endpoint": env.get("AWS_ENDPOINT_URL", ""),
            "s3.access-key-id": env.get("AWS_ACCESS_KEY_ID", ""),
            "s3.secret-access-key": env.get("AWS_SECRET_ACCESS_KEY", ""),
            "s3.session-token": env.get("AWS_SESSION_TOKEN", ""),
            "s3.region": env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION", ""),
        }
        return {k: v for k, v in properties.items() if v}


def s3_options() -> dict[str, object]:
    """Keyword arguments of `pyarrow.fs.S3FileSystem` from the standard AWS variables."""
    env = os.environ
    options: dict[str, object] = {}
    if env.get("AWS_ACCESS_KEY_ID"):
        options |= {"access_key": env["AWS_ACCESS_KEY_ID"], "secret_key": env.get("AWS_SECRET_ACCESS_KEY", "")}
        if env.get("AWS_SESSION_TOKEN"):
            options["session_token"] = env["AWS_SESSION_TOKEN"]
    if region := env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION"):
        options["region"] = region
    if endpoint := env.get("AWS_ENDPOINT_URL"):
        parts = urlsplit(endpoint)
        options |= {"endpoint_override": parts.netloc or parts.path, "scheme": parts.scheme or "https"}
    return options


def fsspec_s3() -> object:
    """An s3fs filesystem for DuckDB's `register_filesystem` (DuckDB reads `s3://` offline through it).

    The listing cache is off: a cached listing would hide files written after the first glob.
    """
    import s3fs

    env = os.environ
    client_kwargs = {"region_name": env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None}
    return s3fs.S3FileSystem(
        key=env.get("AWS_ACCESS_KEY_ID") or None,
        secret=env.get("AWS_SECRET_ACCESS_KEY") or None,
        token=env.get("AWS_SESSION_TOKEN") or None,
        endpoint_url=env.get("AWS_ENDPOINT_URL") or None,
        client_kwargs=client_kwargs,
        use_listings_cache=False,
        skip_instance_cache=True,
    )
