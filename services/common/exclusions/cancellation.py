"""Cancelled suspensions (issue 11, item 6; R-CANCEL).

Since 1 Sep 2023 a head may cancel an exclusion before or after it starts, unless the pupil has been
(or would be) excluded for more than 45 school days in the school year, or the governing board has
begun its meeting on it (SI 2023/571 [S9]; domain.md §1.8, §6 rule 2). A cancelled suspension no
longer counts towards the 45 days.

The rule is read on the facts, never on arrival order: a cancellation is void when the suspensions of
that school year reported at or before it (the cancelled one included) total more than 45 days, or
when `board_met` says the governing board has met on that suspension by then: `boards_met(steps)`
reads that from the record's proceedings (a board decision about the suspension, decided on or
before the day of the cancellation; proceedings.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date

from services.common.exclusions.grey_facts import CancellationFact
from services.common.exclusions.proceedings import DECISION, Proceedings
from services.common.exclusions.suspension_days import Report, YearSuspensions, winner

#: has the governing board met on the cancelled suspension by the time of the cancellation?
BoardMet = Callable[[CancellationFact], bool]


def no_board_meeting(_cancellation: CancellationFact) -> bool:
    return False


def boards_met(steps: Proceedings) -> BoardMet:
    """From a record's proceedings: the board met on a suspension when a decision about it (same school,
    same first day) is dated on or before the cancellation's day (a decision's date is the evidence
    the board met; the day is compared, a cancellation's time of day is not known to the board)."""
    decided: dict[tuple[str, date], date] = {}
    for step in steps.of(DECISION):
        if step.exclusion_start is not None:
            at = (step.school_urn, step.exclusion_start)
            decided[at] = min(decided.get(at, step.on), step.on)
    if not decided:
        return no_board_meeting

    def met(c: CancellationFact) -> bool:
        on = decided.get((c.school_urn, c.start_date))
        return on is not None and on.isoformat() <= c.cancelled_at[:10]

    return met


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: str  # over_45 | board_met
    days: float  # the school year's suspension days the refusal was judged on


def refusal(state: YearSuspensions, cancellation: CancellationFact, *, limit: float, board_met: BoardMet = no_board_meeting) -> Refusal | None:
    """Why this cancellation may not take effect (None: it may)."""
    reported: list[Report] = []
    for reports in state.by_key.values():
        known = tuple(r for r in reports if r.reported_at <= cancellation.cancelled_at)
        if known:
            reported.append(winner(known))
    days = sum(r.sessions for r in reported) / 2
    if days > limit:
        return Refusal("over_45", days)
    if board_met(cancellation):
        return Refusal("board_met", days)
    return None


def standing(state: YearSuspensions, cancellations: Iterable[CancellationFact], *, limit: float, board_met: BoardMet = no_board_meeting) -> YearSuspensions:
    """The year's suspensions without those cancelled lawfully."""
    cancelled = {c.suspension_key for c in cancellations if c.suspension_key in state.by_key and refusal(state, c, limit=limit, board_met=board_met) is None}
    if not cancelled:
        return state
    return YearSuspensions({k: v for k, v in state.by_key.items() if k not in cancelled})
