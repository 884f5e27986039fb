"""R-MM (issue 11, item 5): managed moves recorded as trials with an intended return."""

from __future__ import annotations

from datetime import date

from schemas.alerts import Rule, Severity
from services.alerts.domain import managed_moves
from tests.unit.alerts.grey_helpers import BROMLEY, SOLIHULL, calendar_of, fact, records


def year_of(la: str, urn: str | None, d: date) -> str:
    return calendar_of(la, urn).academic_year(d)


def test_a_managed_move_as_a_trial_or_with_an_intended_return_is_flagged():
    trial = fact("managed_move", date(2024, 11, 4), SOLIHULL, event_id="ev:1", trial=True)
    back = fact("managed_move", date(2025, 2, 24), SOLIHULL, event_id="ev:2", intended_return=date(2025, 4, 28))
    [finding] = managed_moves.detect(records(trial, back), child_id="ch", academic_year_of=year_of)
    assert (finding.rule, finding.severity, finding.value, finding.evidence) == (Rule.managed_move_trial, Severity.warning, 2, ("ev:1", "ev:2"))


def test_a_managed_move_meant_to_be_permanent_is_not():
    assert managed_moves.detect(records(fact("managed_move", date(2024, 11, 4), SOLIHULL)), child_id="ch", academic_year_of=year_of) == []


def test_the_school_year_follows_the_schools_calendar():
    # 27 Aug 2024 is the first school day of Bromley's 2024/25 (Solihull's starts 2 Sep)
    trial = fact("managed_move", date(2024, 8, 27), BROMLEY, trial=True)
    [finding] = managed_moves.detect(records(trial), child_id="ch", academic_year_of=year_of)
    assert finding.academic_year == "2024/25"
