"""What the customer changed after the fact: event updates (v3 `PUT`, v4 `PATCH`), events and visitors deleted.

The population derives every event from (seed, request ID) and stores nothing; the Update API is the one place
where a workspace's events change after they happened, so the changes a client made are the only state the
simulator keeps (in memory, per server). Every render of an event (by ID, in a search page, v3 or v4) applies
them to the event's facts, so both versions and both endpoints agree, botd's copies (`meta`, `linkedId`) included.

The update calls, as the schemas and docs describe them (API.md 3.6; `EventsUpdateRequest`, `EventUpdate`):
- v3 `PUT /events/{request_id}` with `linkedId` (string), `tag` (object), `suspect` (boolean); v4 `PATCH
  /v4/events/{event_id}` with `linked_id`, `tags`, `suspect`. A field sent replaces the stored value (a tag
  object replaces the whole tag); a field left out is unchanged. 200 with an empty object on success.
- 400 `RequestCannotBeParsed` / `request_cannot_be_parsed` "request body is not valid" for a body that is not a
  JSON object, carries none of the fields, or gives one of them the wrong type; "linked_id can't be greater than
  256 characters long" for a longer linked ID (the message the API gives for that limit).
- 404 `RequestNotFound` / `event_not_found` for an event the GET would not find (unknown, outside retention,
  deleted).
- The age limit: events older than 10 days (v3) or one month (v4, read as 31 days) cannot be updated. The
  schemas declare no status for this refusal (only 200, 400, 403, 404, 409); the simulator answers 400 with the
  version's `RequestCannotBeParsed` code and a message naming the limit, because the request is well-formed but
  will never be carried out, which is what a 400 tells a client.
- 409 `StateNotReady` / `state_not_ready` "resource is not mutable yet, try again" for events younger than
  `SimulatorConfig.update_not_ready_ms` (0 by default: off), as right after creation on the real API.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from typing import Any

import orjson

from simulator.facts import EventFacts

DAY_MS = 86_400_000
UPDATE_WINDOW_DAYS = {3: 10, 4: 31}
MAX_LINKED_ID = 256
VISITOR_DELETION_DAYS = 10  # a visitor deletion removes the identification requests of this many past days
# wire name -> fact name, per API version
FIELDS = {
    3: {"linkedId": "linked_id", "tag": "tag", "suspect": "suspect"},
    4: {"linked_id": "linked_id", "tags": "tag", "suspect": "suspect"},
}
_TYPES = {"linked_id": str, "tag": dict, "suspect": bool}


def _error(code: str, message: str) -> bytes:
    return orjson.dumps({"error": {"code": code, "message": message}})


_CODES = {
    3: {"invalid": "RequestCannotBeParsed", "not_ready": "StateNotReady"},
    4: {"invalid": "request_cannot_be_parsed", "not_ready": "state_not_ready"},
}
BODY_INVALID = "request body is not valid"
LINKED_ID_TOO_LONG = "linked_id can't be greater than 256 characters long"
NOT_MUTABLE_YET = "resource is not mutable yet, try again"


class UpdateRefused(ValueError):
    """An update the API refuses: `status` and the version's error `body`."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(body.decode())
        self.status = status
        self.body = body


def parse_update(version: int, raw: bytes) -> dict[str, Any]:
    """The fact changes an update body asks for; raises UpdateRefused (400) for a body the API would refuse."""
    invalid = UpdateRefused(400, _error(_CODES[version]["invalid"], BODY_INVALID))
    try:
        body = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        raise invalid from None
    if not isinstance(body, dict):
        raise invalid
    changes = {fact: body[wire] for wire, fact in FIELDS[version].items() if wire in body}
    if not changes or any(type(value) is not _TYPES[fact] for fact, value in changes.items()):
        raise invalid
    if len(changes.get("linked_id", "")) > MAX_LINKED_ID:
        raise UpdateRefused(400, _error(_CODES[version]["invalid"], LINKED_ID_TOO_LONG))
    return changes


def check_age(version: int, age_ms: int, not_ready_ms: int) -> None:
    """Raise UpdateRefused when an event of `age_ms` cannot be updated (yet, or any more)."""
    window = UPDATE_WINDOW_DAYS[version]
    if age_ms > window * DAY_MS:
        limit = "10 days" if version == 3 else "one month"
        message = f"event is older than {limit} and can no longer be updated"
        raise UpdateRefused(400, _error(_CODES[version]["invalid"], message))
    if age_ms < not_ready_ms:
        raise UpdateRefused(409, _error(_CODES[version]["not_ready"], NOT_MUTABLE_YET))


@dataclass
class Changes:
    """The customer's changes of one workspace: updated fields per request ID, and deleted request IDs."""

    updated: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    deleted: set[str] = dataclasses.field(default_factory=set)
    deleted_visitors: dict[str, int] = dataclasses.field(default_factory=dict)  # visitor ID -> deleted at (ms)
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock, repr=False)

    def update(self, request_id: str, changes: dict[str, Any]) -> None:
        with self.lock:
            self.updated[request_id] = {**self.updated.get(request_id, {}), **changes}

    def delete(self, request_ids: list[str]) -> None:
        with self.lock:
            self.deleted.update(request_ids)

    def is_deleted(self, request_id: str) -> bool:
        return request_id in self.deleted

    def delete_visitor(self, visitor_id: str, at_ms: int) -> None:
        """`DELETE /visitors/{visitor_id}`: its events of the VISITOR_DELETION_DAYS before `at_ms` are gone."""
        with self.lock:
            self.deleted_visitors.setdefault(visitor_id, at_ms)

    def visitor_deleted(self, facts: EventFacts) -> bool:
        """Whether a visitor deletion removed this event: the API deletes the visitor's identification requests of
        the past 10 days (older ones purge with retention and still answer, as the v3 `deleteVisitorData` says)."""
        at_ms = self.deleted_visitors.get(facts.visitor_id)
        return at_ms is not None and at_ms - VISITOR_DELETION_DAYS * DAY_MS <= facts.timestamp_ms

    def apply(self, facts: EventFacts) -> EventFacts:
        """`facts` as the customer left them."""
        changes = self.updated.get(facts.request_id)
        return dataclasses.replace(facts, **changes) if changes else facts
