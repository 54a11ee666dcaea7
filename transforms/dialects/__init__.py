"""The Server API's wire facts, one module per version behind one small interface.

Everything that differs between Server API v3 and v4 on the wire lives here and nowhere else: the path of an
event and of the events search, how the key is sent, the search page size and pagination key, the error codes,
how a throttle can hide inside a 200, how long events stay updatable, and how to tell a body of the version from
anything else. The client, the search, the refresh, the flattener and the simulator's tests all ask
`dialect(version)`; supporting a version is one module and one line in `DIALECTS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

from transforms.dialects import v3, v4


class Wire(Protocol):
    """What a version module declares (see `v3.py`, `v4.py`)."""

    VERSION: int
    BASE_SUFFIX: str
    EVENT_PATH: str
    SEARCH_PATH: str
    SEARCH_MAX_LIMIT: int
    PAGINATION_KEY: str
    AUTH_HEADER: str
    AUTH_PREFIX: str
    NOT_FOUND_CODE: str
    UPDATE_WINDOW_DAYS: int
    ERROR_NAMES: Mapping[str, str]

    def shape_problem(self, body: Any) -> str | None: ...

    def throttle_problem(self, body: Any) -> str | None: ...

    def search_item_identity(self, item: Any) -> tuple[str | None, int | None] | None: ...


@dataclass(frozen=True)
class Dialect:
    """One Server API version as the client, the search and the flattener see it."""

    wire: Wire

    @property
    def version(self) -> int:
        return self.wire.VERSION

    def base_url(self, root_url: str) -> str:
        """Where paths are appended: the server root for v3, root + `/v4` for v4 (a root already ending so stays)."""
        root = root_url.rstrip("/")
        suffix = self.wire.BASE_SUFFIX
        return root if not suffix or root.endswith(suffix) else root + suffix

    def event_path(self, request_id: str) -> str:
        return self.wire.EVENT_PATH.format(id=quote(request_id, safe=""))

    def visitor_path(self, visitor_id: str) -> str:
        """The visitor deletion's path below `base_url`: `/visitors/{id}` in both versions (v4 adds its `/v4`)."""
        return f"/visitors/{quote(visitor_id, safe='')}"

    @property
    def search_path(self) -> str:
        return self.wire.SEARCH_PATH

    @property
    def search_max_limit(self) -> int:
        return self.wire.SEARCH_MAX_LIMIT

    @property
    def pagination_key(self) -> str:
        return self.wire.PAGINATION_KEY

    @property
    def not_found_code(self) -> str:
        return self.wire.NOT_FOUND_CODE

    @property
    def update_window_days(self) -> int:
        """How many days after an event the customer may still update its linked ID, tag and suspect flag."""
        return self.wire.UPDATE_WINDOW_DAYS

    def auth_headers(self, key: str) -> dict[str, str]:
        return {self.wire.AUTH_HEADER: self.wire.AUTH_PREFIX + key}

    def error_name(self, code: str) -> str:
        """The v3 spelling of an API error code (v4 snake_case codes name the same refusals)."""
        return self.wire.ERROR_NAMES.get(code, code)

    def shape_problem(self, body: Any) -> str | None:
        """Why a parsed body is not an event of this version, or None when it is one."""
        return self.wire.shape_problem(body)

    def throttle_problem(self, body: Any) -> str | None:
        """A throttle reported inside a 200 event body (v3 only), or None."""
        return self.wire.throttle_problem(body)

    def search_item_identity(self, item: Any) -> tuple[str | None, int | None] | None:
        """(request ID, timestamp ms) of a search item, either possibly unknown; None when it is not an event."""
        return self.wire.search_item_identity(item)


DIALECTS: dict[int, Dialect] = {3: Dialect(v3), 4: Dialect(v4)}
VERSIONS: tuple[int, ...] = tuple(DIALECTS)


def dialect(version: int) -> Dialect:
    """The dialect of Server API `version`; ValueError names the supported ones."""
    try:
        return DIALECTS[version]
    except KeyError:
        raise ValueError(f"Server API version {version} is not supported (3 or 4)") from None
