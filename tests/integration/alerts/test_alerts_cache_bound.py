"""The child stage's caches are bounded (max_children records, hot or cold, and as many alerts): what it evicts is read
again from the store. A stage that keeps evicting must decide exactly what one that never does decides:
the same alerts, versions and evidence, the same records, the same messages."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import factories as fx
import pytest
from conftest import build_settings
from pydantic import ValidationError
from sqlalchemy import select

from services.alerts import tables
from services.alerts.app import build_app

from .conftest import AlertsHarness

START = datetime(2025, 1, 6, 12, 0, tzinfo=UTC)


def _year() -> list[list[dict]]:
    """Twelve batches about 30 children: suspensions mounting past 30 and 45 days, a call without a UPN
    about some of them (linked by their details), and a correction of an earlier report."""
    rng = random.Random(7)
    pupils = [fx.make_pupil(upn=fx.valid_upn(f"3051234{i:02d}{i:03d}"), first_name=f"Child{i}", date_of_birth=f"2013-0{1 + i % 9}-1{i % 9}")
              for i in range(30)]  # fmt: skip
    batches: list[list[dict]] = []
    for week in range(12):
        batch = []
        for i in rng.sample(range(30), 9):
            start = date(2025, 1, 6) + timedelta(days=7 * week + i % 5)
            batch.append({"kind": "notice", "body": fx.make_notice(pupils[i], start_date=start.isoformat(), end_date=start.isoformat(),
                                                                   sessions=rng.choice((2, 6, 10)),
                                                                   notified_at=f"{start.isoformat()}T09:00:00Z")})  # fmt: skip
        if week % 3 == 2:
            pupil = {**pupils[week], "upn": None}
            day = date(2025, 1, 6) + timedelta(days=7 * week)
            batch.append({"kind": "call", "body": fx.make_call(pupil, incident_dates=[day.isoformat()], received_at=f"{day.isoformat()}T15:00:00Z")})
        batches.append(batch)
    return batches


def _run(harness: AlertsHarness, batches: list[list[dict]]) -> list[str]:
    changes = []
    for week, batch in enumerate(batches):
        messages = [harness.notice(m["body"]) if m["kind"] == "notice" else harness.call(m["body"]) for m in batch]
        result = harness.run(messages, START + timedelta(days=7 * week))
        changes += [f"{a.alert.id}:v{a.alert.version}:{a.change}" for a in harness.alert_changes(result)]
    return changes


def _stored(harness: AlertsHarness) -> tuple[list, list]:
    with harness.engine.connect() as conn:
        alerts = [(r.id, r.version, r.value, r.severity, r.status, r.evidence) for r in conn.execute(select(tables.alerts).order_by(tables.alerts.c.id))]
        children = [(r.child_id, r.version, r.facts, r.profile, r.merged_into) for r in conn.execute(select(tables.children).order_by(tables.children.c.child_id))]
    return alerts, children


def test_a_stage_that_keeps_evicting_decides_what_one_that_never_does_decides(tmp_path, calendars):
    batches = _year()
    roomy = AlertsHarness(f"sqlite:///{tmp_path / 'roomy.sqlite3'}", calendars)
    tight = AlertsHarness(f"sqlite:///{tmp_path / 'tight.sqlite3'}", calendars)
    roomy.child.assigned(True)
    tight.child.assigned(True)
    tight.child.max_children = 4  # over the bound after nearly every batch: records and alerts evicted and read again
    tight.child.hot_children = 2  # and records frozen (child_records.freeze) and thawed
    changes = _run(roomy, batches)
    assert _run(tight, batches) == changes
    assert _stored(tight) == _stored(roomy)
    assert tight.stale_writes == 0  # nothing it read again was stale (a write on a stale alert is refused and redone)
    assert len(roomy.child.children) > 2 * tight.child.max_children  # the tight stage did evict
    tight.run([], START)  # the bound is applied between batches: records frozen, the oldest half of them dropped
    assert len(tight.child.children) == 2 and tight.child.cold and len(tight.child.cold) + 2 < len(roomy.child.children)
    assert any(c.endswith(":evidence") for c in changes) and any(":v1:raised" in c for c in changes)  # alerts rose and changed


def test_the_bound_is_the_operators_setting(tmp_path) -> None:  # noqa: ANN001
    """SIGNPOST_ALERTS_CACHED_CHILDREN sizes the child stage's caches (and so the alerts service's memory)."""
    default = build_app(build_settings(None, tmp_path / "default"))
    small = build_app(build_settings(None, tmp_path / "small", alerts_cached_children=5_000))
    assert default.state.alerts.child.max_children == 100_000
    assert small.state.alerts.child.max_children == 5_000
    with pytest.raises(ValidationError):
        build_settings(None, tmp_path, alerts_cached_children=10)  # below 1,000: it would evict nearly every batch
