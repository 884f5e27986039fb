"""A replay of past years skips the statutory clocks (`clocks.history`): only when every case is long past
and nothing can wake the child again, so the skip changes nothing (a property over random children)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.alerts.domain import clocks
from services.alerts.domain.rules import Deadlines
from services.common.calendar import load_registry
from services.common.exclusions.proceedings import (
    DECISION,
    IRP_APPLICATION,
    IRP_DECISION,
    PERMANENT,
    PROVISION,
    REPRESENTATION,
    Proceedings,
    Step,
    record,
)
from services.common.exclusions.suspension_days import Report, YearSuspensions

REGISTRY = load_registry()
SCHOOLS = [("101676", "305"), ("104119", "334")]  # Bromley, Solihull
KINDS = [DECISION, REPRESENTATION, IRP_APPLICATION, IRP_DECISION, PERMANENT, PROVISION]
days = st.integers(min_value=0, max_value=3 * 365)
FIRST = date(2022, 9, 1)


@st.composite
def child(draw: st.DrawFn) -> tuple[list[YearSuspensions], Proceedings]:
    year = YearSuspensions()
    for i in range(draw(st.integers(0, 8))):
        urn, la = draw(st.sampled_from(SCHOOLS))
        start = FIRST + timedelta(days=draw(days))
        reported = start + timedelta(days=draw(st.integers(0, 5)))
        key = f"U|{urn}|{start}"
        year.by_key[key] = (*year.by_key.get(key, ()), Report(f"notice:N{i}", draw(st.integers(1, 30)), f"{reported}T08:00:00+00:00", urn, la, start))
    steps = Proceedings()
    for i in range(draw(st.integers(0, 6))):
        urn, la = draw(st.sampled_from(SCHOOLS))
        start = FIRST + timedelta(days=draw(days))
        on = start + timedelta(days=draw(st.integers(0, 120)))
        until = on + timedelta(days=draw(st.integers(0, 60))) if draw(st.booleans()) else None
        kind = draw(st.sampled_from(KINDS))
        record(steps, Step(kind, f"step:S{i}", urn, la, start, on, until, draw(st.sampled_from(["upheld", "reinstated", "quashed", "school", "la", ""])),
                           draw(st.sampled_from(["suspension", "permanent"]))))  # fmt: skip
    return [year], steps


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(child(), st.integers(min_value=0, max_value=6 * 365), st.sampled_from([0, 20, 60, 300]))
def test_when_every_fact_is_history_the_clocks_find_nothing_but_quiet_findings_and_never_wake(facts, later, watch) -> None:
    years, steps = facts
    today = FIRST + timedelta(days=later)
    config = Deadlines(watch_school_days=watch)
    out = clocks.detect(years, steps, child_id="ch_1", calendar_of=REGISTRY.for_school, bank_holidays=REGISTRY.bank_holidays, today=today, config=config)
    if clocks.history(years, steps, today=today, config=config):
        assert all(f.quiet for f in out.findings)
        assert out.wake_on is None


def test_recent_facts_are_not_history() -> None:
    """The skip must not hide a live case: a suspension of last month keeps its clocks running."""
    year = YearSuspensions()
    today = date(2025, 3, 10)
    year.by_key["U|101676|2025-02-03"] = (Report("notice:N", 20, "2025-02-03T08:00:00+00:00", "101676", "305", date(2025, 2, 3)),)
    assert not clocks.history([year], Proceedings(), today=today, config=Deadlines())
    assert clocks.history([year], Proceedings(), today=today + timedelta(days=800), config=Deadlines())
    assert not clocks.history([year], Proceedings(), today=today + timedelta(days=800), config=Deadlines(watch_school_days=400))


@pytest.mark.parametrize("kind", KINDS)
def test_a_recent_step_about_an_old_exclusion_is_not_history(kind: str) -> None:
    steps = Proceedings()
    record(steps, Step(kind, "step:S", "101676", "305", date(2022, 10, 3), date(2025, 3, 1)))
    assert not clocks.history([], steps, today=date(2025, 3, 10), config=Deadlines())
