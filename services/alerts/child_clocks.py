"""The child stage's side of the statutory clocks (issue 11, items 1-3): proceedings events read from
their topics, today's date, and the wall-clock tick.

Deadlines pass with time, not only with events. Like a Kafka Streams punctuator, the stage has a tick:
every `interval` seconds (and whenever the date changes) the runner calls the stage's `process` with
no new messages; the stage then loads the children whose stored `next_check` day has come
(`AlertsStore.children_due`) and runs their detectors again inside that batch and its transaction. So
the stage stays the only writer of its alerts (compare-and-set, outbox), and a restart loses nothing:
`next_check` is in the child's row, written with it.

Today is injectable: a `Clock` is any callable giving a date. The service's is the UK date now;
`SIGNPOST_TODAY_FILE` (tests only, refused in production) makes it the date written in a file, so an
end-to-end test can move time forward.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from schemas.topics import (
    BOARD_DECISIONS,
    EDUCATION_PROVISIONS,
    IRP_APPLICATIONS,
    IRP_DECISIONS,
    REPRESENTATIONS,
)
from services.common.exclusions import proceedings
from services.common.exclusions.proceedings import LONDON, Step
from services.common.settings import Settings

Clock = Callable[[], date]

KIND_OF_TOPIC = {
    BOARD_DECISIONS.name: proceedings.DECISION,
    REPRESENTATIONS.name: proceedings.REPRESENTATION,
    IRP_APPLICATIONS.name: proceedings.IRP_APPLICATION,
    IRP_DECISIONS.name: proceedings.IRP_DECISION,
    EDUCATION_PROVISIONS.name: proceedings.PROVISION,
}
DATE_FIELD = {  # the date that stands for the event's time (which source's details are the latest)
    proceedings.DECISION: "decided_on",
    proceedings.REPRESENTATION: "received_on",
    proceedings.IRP_APPLICATION: "sent_on",
    proceedings.IRP_DECISION: "decided_on",
    proceedings.PROVISION: "start_date",
}


def uk_today() -> date:
    return datetime.now(UTC).astimezone(LONDON).date()


def file_clock(path: Path, fallback: Clock = uk_today) -> Clock:
    """Tests only: today is the ISO date in `path` (re-read when it changes), else the real date."""
    cache: dict[str, Any] = {"mtime": None, "day": None}

    def today() -> date:
        try:
            mtime = path.stat().st_mtime_ns
        except FileNotFoundError:
            return fallback()
        if mtime != cache["mtime"]:
            cache["mtime"], cache["day"] = mtime, date.fromisoformat(path.read_text().strip())
        day: date = cache["day"]
        return day

    return today


def clock_of(settings: Settings) -> Clock:
    """The service's clock: the UK date, or (tests only) the date in SIGNPOST_TODAY_FILE."""
    return file_clock(settings.today_file) if settings.today_file is not None else uk_today


def event_time(kind: str, doc: dict[str, Any]) -> str:
    """A proceedings event carries dates, not times: its date at midnight UTC orders its details."""
    return f"{doc[DATE_FIELD[kind]]}T00:00:00+00:00"


def step_of(topic: str, event_id: str, doc: dict[str, Any]) -> Step:
    return proceedings.from_event(KIND_OF_TOPIC[topic], event_id, doc)


class Ticker:
    """When the stage should look at its clocks again: every `interval` seconds, or at once when the
    date changes (midnight, or a test moving its clock)."""

    def __init__(self, clock: Clock, interval: float, monotonic: Callable[[], float] = time.monotonic):
        self.clock, self.interval, self.monotonic = clock, interval, monotonic
        self.last_at: float | None = None
        self.last_day: date | None = None

    def due(self) -> bool:
        return self.last_at is None or self.monotonic() - self.last_at >= self.interval or self.clock() != self.last_day

    def ticked(self, today: date) -> None:
        self.last_at, self.last_day = self.monotonic(), today
