"""The alerts stages against a real store, no Kafka: SQLite in tmp_path, and PostgreSQL (emptied per test).

`alerts` is a harness: it builds the store and both stages, turns factory payloads into the
Incoming messages the consumer would hand over (the intake's JSON, event ids as the intake
makes them) and commits each batch's writes the way the stage runner does.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import date, datetime

import pytest
from sqlalchemy import select

from schemas.alerts import Alert, AlertChanged
from schemas.children import ChildEventResolved
from schemas.intake import Call, ExclusionCancellation, ExclusionNotice, LAReturnRecordSubmitted
from schemas.pupil import child_key
from schemas.topics import (
    ALERTS,
    CALLS,
    CHILDREN,
    EXCLUSION_CANCELLATIONS,
    EXCLUSION_NOTICES,
    LA_RETURN_RECORDS,
    SCHOOL_SUSPENSIONS,
    TopicSpec,
    header,
)
from services.alerts import facts_codec, tables
from services.alerts.child_stage import ChildStage, StageResult
from services.alerts.domain.rules import RuleConfig
from services.alerts.school_stage import SchoolStage
from services.alerts.store import AlertsStore
from services.common.calendar import CalendarRegistry, load_registry
from services.common.db import make_engine, migrate
from services.common.messages import Incoming, Outgoing
from services.common.stream import StaleWrite


class AlertsHarness:
    def __init__(self, url: str, calendars: CalendarRegistry):
        self.engine = make_engine(url)
        migrate(self.engine, tables.metadata)
        self.store = AlertsStore(self.engine)
        self.calendars = calendars
        self.child = ChildStage(self.store, calendars, RuleConfig())
        self.school = SchoolStage(self.store, calendars, RuleConfig())
        self._offsets = itertools.count()
        self.stale_writes = 0

    # ------------------------------------------------------------ messages in
    def _incoming(self, spec: TopicSpec, key: str | None, value: bytes, event_id: str) -> Incoming:
        return Incoming(
            spec.name,
            0,
            next(self._offsets),
            key.encode() if key else None,
            value,
            event_id,
            spec.ce_type,
            None,
        )

    def notice(self, body: dict) -> Incoming:
        notice = ExclusionNotice.model_validate(body)
        return self._incoming(
            EXCLUSION_NOTICES,
            child_key(notice.la_code, notice.pupil),
            notice.model_dump_json().encode(),
            f"notice:{notice.notice_id}",
        )

    def call(self, body: dict) -> Incoming:
        call = Call.model_validate(body)
        return self._incoming(
            CALLS,
            child_key(call.la_code, call.pupil),
            call.model_dump_json().encode(),
            f"call:{call.call_id}",
        )

    def record(self, record: dict, *, return_id: str = "R-2025-Q1", la_code: str = "305") -> Incoming:
        submitted = LAReturnRecordSubmitted(
            return_id=return_id,
            la_code=la_code,
            period_start=date(2025, 1, 6),
            period_end=date(2025, 3, 31),
            submitted_at=datetime.fromisoformat("2025-04-01T08:30:00+00:00"),
            record=record,
        )
        key = child_key(la_code, submitted.record.pupil)
        return self._incoming(
            LA_RETURN_RECORDS,
            key,
            submitted.model_dump_json().encode(),
            f"la-return:{return_id}:{submitted.record.record_id}",
        )

    def cancellation(self, body: dict) -> Incoming:
        """Issue 11 (R-CANCEL): a head's cancellation of a suspension."""
        doc = ExclusionCancellation.model_validate(body)
        return self._incoming(EXCLUSION_CANCELLATIONS, child_key(doc.la_code, doc.pupil), doc.model_dump_json().encode(), f"cancellation:{doc.cancellation_id}")

    def raw(self, spec: TopicSpec, value: bytes, event_id: str = "broken:1") -> Incoming:
        return self._incoming(spec, None, value, event_id)

    @staticmethod
    def redelivered(out: Outgoing, offset: int = 0) -> Incoming:
        """An output of one stage as the next stage's consumer would receive it."""
        return Incoming(
            out.topic,
            0,
            offset,
            out.key.encode(),
            out.value,
            header(out.headers, "ce_id"),
            header(out.headers, "ce_type"),
            header(out.headers, "ce_time"),
        )

    # ------------------------------------------------------------ running
    def run(self, batch: list[Incoming], now: datetime, stage: ChildStage | None = None) -> StageResult:
        """What the stage runner does with a batch: process, commit; on a stale write, forget and do it again."""
        stage = stage or self.child
        for _ in range(5):
            result = stage.process(batch, now)
            try:
                self.store.commit(result.writes)
            except StaleWrite:
                self.stale_writes += 1
                stage.reset()
                continue
            return result
        raise AssertionError("the batch kept meeting stale writes")

    def another_worker(self) -> ChildStage:
        """A second child stage on the same store: the worker that owns other partitions."""
        return ChildStage(self.store, self.calendars, RuleConfig())

    def run_school(self, batch: list[Incoming], now: datetime) -> StageResult:
        result = self.school.process(batch, now)
        self.store.commit(result.writes)
        return result

    def decide(self, candidate_id: str, decision: str, now: datetime) -> None:
        """What POST /v1/identity/candidates/{id}/{decision} does (services/alerts/handlers.py Handlers.identity_decision)."""
        candidate = self.store.candidate(candidate_id)
        self.store.decide_candidate(candidate, decision, "test-inclusion-team", None, now)
        self.child.request_recompute([candidate["child_id"], candidate["candidate_child_id"]])

    # ------------------------------------------------------------ looking
    def rows(self, table) -> list[dict]:  # noqa: ANN001 - a Table of services.alerts.tables
        with self.engine.connect() as conn:
            return [r._asdict() for r in conn.execute(select(table))]

    def suspension_reports(self) -> list[dict]:
        """Every stored report of a suspension, from the facts in the children rows."""
        out = []
        for row in self.rows(tables.children):
            years, _ = facts_codec.decode(row["facts"])
            out += [{"child_id": row["child_id"], "academic_year": year, "key": key, "event_id": r.event_id, "sessions": r.sessions}
                    for year, ys in years.items() for key, reports in ys.by_key.items() for r in reports]  # fmt: skip
        return out

    def alert(self, alert_id: str) -> Alert | None:
        found = self.store.get_alert(alert_id)
        return found[0] if found else None

    @staticmethod
    def out(result: StageResult) -> list[Outgoing]:
        """Everything the batch publishes: its outbox (and anything produced directly)."""
        return [*result.messages, *result.writes.outbox]

    @staticmethod
    def on(result: StageResult, spec: TopicSpec) -> list[Outgoing]:
        return [m for m in AlertsHarness.out(result) if m.topic == spec.name]

    @staticmethod
    def child_events(result: StageResult) -> list[ChildEventResolved]:
        return [
            ChildEventResolved.model_validate_json(m.value)
            for m in AlertsHarness.out(result)
            if m.topic == CHILDREN.name
        ]

    @staticmethod
    def alert_changes(result: StageResult) -> list[AlertChanged]:
        return [AlertChanged.model_validate_json(m.value) for m in AlertsHarness.out(result) if m.topic == ALERTS.name]

    @staticmethod
    def school_suspensions(result: StageResult) -> list[Outgoing]:
        return [m for m in AlertsHarness.out(result) if m.topic == SCHOOL_SUSPENSIONS.name]


@pytest.fixture(scope="session")
def calendars() -> CalendarRegistry:
    return load_registry()


@pytest.fixture(scope="session")
def alerts_pg_url(pg_url: str) -> str:
    """The session's PostgreSQL schema with the alerts tables (created once: DDL per test is slow on a busy server)."""
    engine = make_engine(pg_url)
    try:
        migrate(engine, tables.metadata)
    finally:
        engine.dispose()
    return pg_url


def _emptied(url: str) -> str:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            for table in reversed(tables.metadata.sorted_tables):
                conn.execute(table.delete())
    finally:
        engine.dispose()
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path) -> str:  # noqa: ANN001
    """A store of this test's own: a fresh SQLite file, or the session's PostgreSQL schema emptied."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'alerts.db'}"
    return _emptied(request.getfixturevalue("alerts_pg_url"))


@pytest.fixture
def alerts(store_url: str, calendars: CalendarRegistry) -> Iterator[AlertsHarness]:
    harness = AlertsHarness(store_url, calendars)
    try:
        yield harness
    finally:
        harness.engine.dispose()
