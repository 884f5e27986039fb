"""R-OFFROLL (issue 11, item 5): a removal from roll or EHE registration soon after a suspension, a
permanent-exclusion threat or a managed move; Year 10 before the January census weighs more."""

from __future__ import annotations

from datetime import date

import pytest

from schemas.alerts import Rule, Severity
from services.alerts.domain import off_rolling
from services.alerts.domain.grey_rules import OffRolling
from services.common.exclusions.grey_facts import THREAT
from tests.unit.alerts.grey_helpers import BROMLEY, SOLIHULL, calendar_of, fact, records, suspensions


def detect(*facts, years=(), year_group=None, config=None) -> list:
    return off_rolling.detect(records(*facts), list(years), child_id="ch", year_group=year_group, calendar_of=calendar_of, config=config or OffRolling())


def test_the_january_census_is_the_third_thursday():
    assert off_rolling.january_census("2024/25") == date(2025, 1, 16)
    assert off_rolling.january_census("2025/26") == date(2026, 1, 15)


@pytest.mark.parametrize("kind", ["removal_from_roll", "ehe_registration"])
def test_removal_on_the_thirtieth_school_day_after_a_suspension_is_flagged_the_next_day_is_not(kind):
    # Solihull: Mon 7 Oct 2024 + 30 school days, half term 28 Oct - 1 Nov not counted = Mon 25 Nov
    years = [suspensions((date(2024, 10, 7), 2))]
    [finding] = detect(fact(kind, date(2024, 11, 25), SOLIHULL), years=years)
    assert (finding.rule, finding.severity, finding.value) == (Rule.off_rolling_review, Severity.high, 1)
    assert finding.evidence == ("ev:" + kind + ":2024-11-25", "notice:2024-10-07")
    assert detect(fact(kind, date(2024, 11, 26), SOLIHULL), years=years) == []


def test_the_window_skips_a_bank_holiday_and_half_term_bromley():
    # Bromley: a managed move on Tue 22 Apr 2025 + 30 school days (5 May and 26-30 May not counted) = Wed 11 Jun
    move = fact("managed_move", date(2025, 4, 22), BROMLEY)
    assert len(detect(move, fact("ehe_registration", date(2025, 6, 11), BROMLEY))) == 1
    assert detect(move, fact("ehe_registration", date(2025, 6, 12), BROMLEY)) == []


def test_the_window_is_a_setting():
    years = [suspensions((date(2024, 10, 7), 2))]
    assert detect(fact("removal_from_roll", date(2024, 11, 25), SOLIHULL), years=years, config=OffRolling(window_weeks=2)) == []


def test_a_permanent_exclusion_threat_from_a_call_is_a_trigger():
    threat = fact(THREAT, date(2024, 9, 20), SOLIHULL, event_id="call:C1#2024-09-20")
    [finding] = detect(threat, fact("ehe_registration", date(2024, 10, 1), SOLIHULL))
    assert "call:C1" in finding.evidence


def test_a_removal_before_the_trigger_or_at_another_school_is_not_flagged():
    years = [suspensions((date(2024, 10, 7), 2))]
    assert detect(fact("removal_from_roll", date(2024, 10, 4), SOLIHULL), years=years) == []
    assert detect(fact("removal_from_roll", date(2024, 10, 8), ("334", "999999")), years=years) == []


def test_year_10_weighs_more_and_is_critical():
    years = [suspensions((date(2024, 10, 7), 2))]
    [finding] = detect(fact("removal_from_roll", date(2024, 10, 14), SOLIHULL, year_group="10"), years=years)
    assert (finding.value, finding.severity) == (2.0, Severity.critical)


def test_year_11_before_the_january_census_weighs_more_after_it_does_not():
    years = [suspensions((date(2025, 1, 6), 2))]
    [before] = detect(fact("removal_from_roll", date(2025, 1, 15), SOLIHULL), years=years, year_group="11")
    [after] = detect(fact("removal_from_roll", date(2025, 1, 16), SOLIHULL), years=years, year_group="11")
    assert (before.value, before.severity, after.value, after.severity) == (2.0, Severity.critical, 1.0, Severity.high)
