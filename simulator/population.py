"""The simulated Fingerprint workspace: which request IDs exist, when they happened, and what they contain.

Nothing is stored: a request ID is signed with the seed (`simulator.ids`), its event timestamp is the ID prefix
plus a small keyed offset (like the real API, the prefix is close to but not equal to the timestamp), and its
content is derived from (seed, request ID). The only cached state is per-day bookkeeping (the day's event list
and its planted patterns), which is itself a pure function of (seed, day).

Planted patterns (for analytics tests) exist on every day with at least 200 events:
- `account_sharer`: 12 login events of user `u-sharer` (linkedId `u-sharer`) from 12 distinct returning
  visitors spread over the day.
- `bot_burst`: about 3 % of the day's events inside one 4-minute window, from three headless-browser visitors
  (botd `bad`) on one datacenter /24, trying logins against many accounts.
`simulator.applog` references the sharer on the first day of a demo log and the burst on its second day.
"""

from __future__ import annotations

import dataclasses
import itertools
import random
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from simulator.events import render_v3
from simulator.events_v4 import NOVELTIES_V4, render_v4
from simulator.facts import ACCOUNT_SHARER, BOT_BURST, NOVELTIES, EventFacts
from simulator.ids import MAX_COLLISION_INDEX, REQUEST_ID_RE, Keyed, prefix_ms
from simulator.visitors import BAD_BOT, HUMAN, Visitor, make_visitor
from simulator.visits import DAY_MS, derive_facts

MAX_TIMESTAMP_OFFSET_MS = 40
NEW_VISITOR_SHARE = 0.18
SHARER_VISITORS = 12
MIN_EVENTS_FOR_PLANTS = 200
BURST_WINDOW_MS = 240_000
_HOURLY_TRAFFIC = (2, 1.5, 1, 1, 1, 1.5, 2.5, 4, 5, 6, 6.5, 7, 7, 7, 6.5, 6.5, 6.5, 6.5, 6, 5.5, 5, 4.5, 3.5, 2.5)
_HOURS = range(24)
_HOURLY_CUMULATIVE = tuple(itertools.accumulate(_HOURLY_TRAFFIC))
_DAY_CACHE = 16  # full event lists kept (about 150 kB each at 2000 events/day)
_PLANT_CACHE = 4096  # planted registries kept (a few kB each)


class UnknownRequestId(KeyError):
    """The request ID is malformed or was never issued by this population."""


@dataclass(frozen=True, slots=True)
class _Day:
    events: list[tuple[int, str]]
    plants: dict[str, tuple[str, Visitor]]  # request ID -> (pattern, visitor override)


def day_start_ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


def utc_day(ms: int) -> date:
    return datetime.fromtimestamp(ms / 1000, UTC).date()


class Population:
    """All events of one simulated workspace, derived on demand from `seed`; thread-safe."""

    def __init__(self, seed: int, events_per_day: int = 2000) -> None:
        if events_per_day < 1:
            raise ValueError(f"events_per_day must be at least 1, got {events_per_day}")
        self.seed = seed
        self.events_per_day = events_per_day
        self.keyed = Keyed(seed)
        self.pool_size = max(500, events_per_day * 3 // 2)
        self.environments = tuple(f"ae_{self.keyed.int64(f'env:{k}'):016x}" for k in range(2))
        self._visitors: dict[int, Visitor] = {}
        self._days: dict[date, _Day] = {}
        self._plants: dict[date, dict[str, tuple[str, Visitor]]] = {}
        self._lock = threading.Lock()

    # --- identity -------------------------------------------------------------------------------------------
    def exists(self, request_id: str) -> bool:
        """True when `request_id` was issued by this population (format and keyed-suffix check, no storage)."""
        return self.keyed.is_signed(request_id)

    @staticmethod
    def is_well_formed(request_id: str) -> bool:
        return REQUEST_ID_RE.match(request_id) is not None

    def timestamp_ms(self, request_id: str) -> int:
        """The event `timestamp` of a well-formed ID: its prefix plus a keyed 0..40 ms offset."""
        prefix = prefix_ms(request_id)
        return prefix + self._offset(prefix)

    def _offset(self, prefix: int) -> int:
        # keyed on the prefix only, so IDs sharing a millisecond prefix share a timestamp (pagination ties)
        return self.keyed.int64(f"offset:{prefix}") % (MAX_TIMESTAMP_OFFSET_MS + 1)

    # --- days -----------------------------------------------------------------------------------------------
    def day_events(self, day: date) -> list[tuple[int, str]]:
        """The day's events as (timestamp ms, request ID), sorted by (timestamp, request ID); a fresh list."""
        return list(self._day(day).events)

    def planted(self, day: date) -> dict[str, str]:
        """Request ID -> planted pattern (`account_sharer` or `bot_burst`) for `day` (empty below 200/day)."""
        return {rid: kind for rid, (kind, _) in self._plants_of(day).items()}

    def _plants_of(self, day: date) -> dict[str, tuple[str, Visitor]]:
        plants = self._plants.get(day)
        return plants if plants is not None else self._day(day).plants

    def _day(self, day: date) -> _Day:
        cached = self._days.get(day)
        if cached is not None:
            return cached
        built = self._build_day(day)
        with self._lock:
            self._days[day] = built
            self._plants[day] = built.plants
            for cache, limit in ((self._days, _DAY_CACHE), (self._plants, _PLANT_CACHE)):
                while len(cache) > limit:
                    cache.pop(next(iter(cache)))
        return built

    def _build_day(self, day: date) -> _Day:
        rng = self.keyed.rng(f"day:{day.isoformat()}")
        start, n = day_start_ms(day), self.events_per_day
        planting = n >= MIN_EVENTS_FOR_PLANTS
        n_burst = max(10, n * 3 // 100) if planting else 0
        taken: dict[int, int] = {}
        events: list[tuple[int, str]] = []

        def add(prefix: int) -> str | None:
            j = taken.get(prefix, 0)
            if j > MAX_COLLISION_INDEX:
                return None
            taken[prefix] = j + 1
            rid = self.keyed.request_id(prefix, j)
            events.append((prefix + self._offset(prefix), rid))
            return rid

        last = DAY_MS - MAX_TIMESTAMP_OFFSET_MS - 1
        target = n - n_burst
        normal: list[str] = []
        while len(events) < target:
            hour = rng.choices(_HOURS, cum_weights=_HOURLY_CUMULATIVE)[0]
            prefix = start + min(last, hour * 3_600_000 + rng.randrange(3_600_000))
            rid = add(prefix)
            if rid is None:
                continue
            normal.append(rid)
            if rng.random() < 0.015 and len(events) < target:  # a few percent share their millisecond
                add(prefix)
        burst_start = start + rng.randrange(3_600_000, 21 * 3_600_000)
        burst: list[str] = []
        while len(burst) < n_burst:
            rid = add(burst_start + rng.randrange(BURST_WINDOW_MS))
            if rid is not None:
                burst.append(rid)
        events.sort()
        plants = self._plant(day, rng, normal, burst) if planting else {}
        return _Day(events, plants)

    def _plant(
        self, day: date, rng: random.Random, normal: list[str], burst: list[str]
    ) -> dict[str, tuple[str, Visitor]]:
        plants: dict[str, tuple[str, Visitor]] = {}
        sharer_ids = rng.sample(normal, SHARER_VISITORS)
        indexes: list[int] = []
        while len(indexes) < SHARER_VISITORS:
            index = rng.randrange(self.pool_size)
            visitor = self.visitor(index)
            if index not in indexes and visitor.role == HUMAN:
                indexes.append(index)
        for rid, index in zip(sharer_ids, indexes, strict=True):
            plants[rid] = (ACCOUNT_SHARER, self.visitor(index))
        bots = [
            make_visitor(self.keyed, f"burst:{day.isoformat()}:{k}", BAD_BOT, ("headlessChrome", "puppeteer")[k % 2])
            for k in range(3)
        ]
        bots = [dataclasses.replace(b, network=bots[0].network, host=bots[0].host) for b in bots]
        for rid in burst:
            plants[rid] = (BOT_BURST, rng.choice(bots))
        return plants

    # --- visitors and events --------------------------------------------------------------------------------
    def visitor(self, index: int) -> Visitor:
        """Returning visitor number `index` of the pool (0 is the most frequent)."""
        cached = self._visitors.get(index)
        if cached is None:
            cached = self._visitors[index] = make_visitor(self.keyed, f"pool:{index}")
        return cached

    def _visitor_for(self, request_id: str) -> Visitor:
        u = self.keyed.unit(f"who:{request_id}")
        if u < NEW_VISITOR_SHARE:
            return make_visitor(self.keyed, f"new:{request_id}")
        x = (u - NEW_VISITOR_SHARE) / (1 - NEW_VISITOR_SHARE)
        return self.visitor(int(self.pool_size * x**1.5))  # skewed: low indexes return often

    def facts(self, request_id: str) -> EventFacts:
        """The version-neutral facts of an existing event; raises UnknownRequestId otherwise."""
        if not self.exists(request_id):
            raise UnknownRequestId(request_id)
        ts = self.timestamp_ms(request_id)
        plant = self._plants_of(utc_day(prefix_ms(request_id))).get(request_id)
        if plant is None:
            return derive_facts(self.keyed, request_id, ts, self._visitor_for(request_id), None, self.environments)
        kind, visitor = plant
        return derive_facts(self.keyed, request_id, ts, visitor, kind, self.environments)

    def event_v3(self, request_id: str) -> dict[str, Any]:
        """The v3 `GET /events/{request_id}` 200 body (`{"products": {...}}`) for an existing event."""
        return render_v3(self.facts(request_id))

    def event_v4(self, request_id: str) -> dict[str, Any]:
        """The v4 `GET /v4/events/{event_id}` 200 body (flat, snake_case): the same facts as `event_v3`."""
        return render_v4(self.facts(request_id))

    def unknown_field(self, request_id: str, version: int) -> tuple[str, ...] | None:
        """The key path of the unknown field planted in the event's body of API `version` (3 or 4), if any.

        The real API adds fields without notice, so about 1 % of events carry one on purpose (`facts.NOVELTIES`);
        clients and schema checks use this to tell the planted field from an accidental one.
        """
        novelty = self.facts(request_id).novelty
        if novelty is None:
            return None
        return (NOVELTIES if version == 3 else NOVELTIES_V4)[novelty]
