"""R-EHCP-PEX and R-SW-VSH (issue 11, item 4): children the law protects most."""

from __future__ import annotations

from datetime import date

import pytest

from schemas.alerts import Rule, Severity
from services.alerts.domain import protected
from services.common.exclusions.grey_facts import PERMANENT
from tests.unit.alerts.grey_helpers import BROMLEY, calendar_of, fact, records, suspensions

SOL = calendar_of("334", "104119")


def pex(start: date, event_id: str = "notice:P1", where=BROMLEY):
    return fact(PERMANENT, start, where, event_id)


@pytest.mark.parametrize("profile", [{"sen_status": "E"}, {"looked_after": True}, {"sen_status": "K", "looked_after": True}])
def test_a_permanent_exclusion_of_a_child_with_an_ehc_plan_or_looked_after_is_critical(profile):
    [finding] = protected.detect_permanent(records(pex(date(2025, 3, 3))), profile, child_id="ch", academic_year_of=SOL.academic_year)
    assert (finding.rule, finding.severity, finding.value, finding.academic_year) == (Rule.protected_child_permanently_excluded, Severity.critical, 1, "2024/25")


@pytest.mark.parametrize("profile", [{"sen_status": "K"}, {"sen_status": "N", "has_social_worker": True}, {}])
def test_no_critical_alert_without_an_ehc_plan_or_care_status(profile):
    assert protected.detect_permanent(records(pex(date(2025, 3, 3))), profile, child_id="ch", academic_year_of=SOL.academic_year) == []


def test_the_notice_and_the_return_of_one_exclusion_count_once():
    state = records(pex(date(2025, 3, 3), "notice:P1"), pex(date(2025, 3, 3), "la-return:R|1"))
    [finding] = protected.detect_permanent(state, {"sen_status": "E"}, child_id="ch", academic_year_of=SOL.academic_year)
    assert finding.value == 1 and finding.evidence == ("la-return:R|1", "notice:P1")


def test_the_school_year_is_the_schools_own_calendar():
    # Bromley's 2024/25 starts on 27 August 2024, Solihull's on 2 September: 28 August is in a different school year
    bromley = calendar_of(*BROMLEY)
    state = records(pex(date(2024, 8, 28)))
    [in_bromley] = protected.detect_permanent(state, {"sen_status": "E"}, child_id="ch", academic_year_of=bromley.academic_year)
    [in_solihull] = protected.detect_permanent(state, {"sen_status": "E"}, child_id="ch", academic_year_of=SOL.academic_year)
    assert (in_bromley.academic_year, in_solihull.academic_year) == ("2024/25", "2023/24")


@pytest.mark.parametrize("flag", ["looked_after", "has_social_worker"])
def test_every_suspension_of_a_child_in_care_or_with_a_social_worker_raises_the_virtual_school_alert(flag):
    years = {"2024/25": suspensions((date(2024, 11, 4), 2), (date(2025, 5, 6), 1))}
    [finding] = protected.detect_social_care(records(), years, {flag: True}, child_id="ch", academic_year_of=SOL.academic_year)
    assert (finding.rule, finding.severity, finding.value) == (Rule.social_care_child_excluded, Severity.high, 2)
    assert len(finding.evidence) == 2


def test_the_virtual_school_alert_counts_permanent_exclusions_too():
    years = {"2024/25": suspensions((date(2024, 11, 4), 2))}
    [finding] = protected.detect_social_care(records(pex(date(2025, 3, 3))), years, {"looked_after": True}, child_id="ch", academic_year_of=SOL.academic_year)
    assert finding.value == 2


def test_no_virtual_school_alert_for_a_child_without_care_status():
    years = {"2024/25": suspensions((date(2024, 11, 4), 2))}
    assert protected.detect_social_care(records(), years, {"sen_status": "E"}, child_id="ch", academic_year_of=SOL.academic_year) == []
