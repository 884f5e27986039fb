"""R-CANCEL (issue 11, item 6): a cancelled suspension stops counting, unless over 45 days or the board has met."""

from __future__ import annotations

from datetime import date

from services.common.exclusions import cancellation
from services.common.exclusions.facts import suspension_key
from services.common.exclusions.grey_facts import CancellationFact
from services.common.exclusions.proceedings import DECISION, Proceedings, Step, record
from tests.unit.alerts.grey_helpers import SOLIHULL, UPN, suspensions

URN = SOLIHULL[1]


def cancel(start: date, at: str = "2025-03-01T12:00:00+00:00", event_id: str = "cancellation:X1") -> CancellationFact:
    return CancellationFact(suspension_key(UPN, URN, start), event_id, at, URN, "334", start)


def test_a_cancelled_suspension_no_longer_counts():
    state = suspensions((date(2024, 11, 4), 10), (date(2025, 1, 13), 4))
    standing = cancellation.standing(state, [cancel(date(2025, 1, 13))], limit=45)
    assert standing.days == 5


def test_at_exactly_45_days_a_cancellation_is_allowed_over_45_it_is_refused():
    at_45 = suspensions((date(2024, 11, 4), 80), (date(2025, 1, 13), 10))
    assert cancellation.refusal(at_45, cancel(date(2025, 1, 13)), limit=45) is None
    over = suspensions((date(2024, 11, 4), 80), (date(2025, 1, 13), 11))
    refused = cancellation.refusal(over, cancel(date(2025, 1, 13)), limit=45)
    assert refused is not None and (refused.reason, refused.days) == ("over_45", 45.5)
    assert cancellation.standing(over, [cancel(date(2025, 1, 13))], limit=45).days == 45.5


def test_suspensions_reported_after_the_cancellation_do_not_void_it_whatever_the_order_they_arrive():
    early = suspensions((date(2025, 1, 13), 10), reported_at="2025-01-13T09:00:00+00:00")
    late = suspensions((date(2025, 3, 3), 90), reported_at="2025-03-03T09:00:00+00:00")
    both = cancellation_state = early
    both.by_key.update(late.by_key)
    assert cancellation.refusal(cancellation_state, cancel(date(2025, 1, 13), at="2025-02-01T00:00:00+00:00"), limit=45) is None
    assert cancellation.standing(both, [cancel(date(2025, 1, 13), at="2025-02-01T00:00:00+00:00")], limit=45).days == 45


def test_the_board_met_hook_refuses():
    state = suspensions((date(2025, 1, 13), 10))
    refused = cancellation.refusal(state, cancel(date(2025, 1, 13)), limit=45, board_met=lambda c: True)
    assert refused is not None and refused.reason == "board_met"


def test_a_cancellation_of_an_unknown_suspension_changes_nothing():
    state = suspensions((date(2025, 1, 13), 10))
    assert cancellation.standing(state, [cancel(date(2025, 1, 20))], limit=45) is state


def _decision(start: date, decided_on: date, urn: str = URN) -> Proceedings:
    steps = Proceedings()
    record(steps, Step(DECISION, f"board-decision:{decided_on}", urn, "334", start, decided_on, category="suspension", detail="upheld"))
    return steps


def test_once_the_governing_board_has_decided_on_the_suspension_its_cancellation_is_refused():
    state = suspensions((date(2024, 11, 4), 10), (date(2025, 1, 13), 4))
    met = cancellation.boards_met(_decision(date(2025, 1, 13), date(2025, 2, 20)))
    refused = cancellation.refusal(state, cancel(date(2025, 1, 13), at="2025-03-01T12:00:00+00:00"), limit=45, board_met=met)
    assert refused is not None and refused.reason == "board_met"
    assert cancellation.standing(state, [cancel(date(2025, 1, 13))], limit=45, board_met=met).days == 7  # still counts


def test_a_board_decision_after_the_cancellation_or_about_another_suspension_does_not_void_it():
    state = suspensions((date(2024, 11, 4), 10), (date(2025, 1, 13), 4))
    later = cancellation.boards_met(_decision(date(2025, 1, 13), date(2025, 3, 10)))
    other = cancellation.boards_met(_decision(date(2024, 11, 4), date(2025, 1, 20)))
    elsewhere = cancellation.boards_met(_decision(date(2025, 1, 13), date(2025, 2, 20), urn="999999"))
    for met in (later, other, elsewhere):
        assert cancellation.refusal(state, cancel(date(2025, 1, 13)), limit=45, board_met=met) is None
        assert cancellation.standing(state, [cancel(date(2025, 1, 13))], limit=45, board_met=met).days == 5
