"""Cancelled suspensions (issue 11, item 6; R-CANCEL).

Since 1 Sep 2023 a head may cancel an exclusion before or after it starts, unless the pupil has been
(or would be) excluded for more than 45 school days in the school year, or the governing board has
begun its meeting on it (SI 2023/571 [S9]; domain.md §1.8, §6 rule 2). A cancelled suspension no
longer counts towards the 45 days.

The rule is read on the facts, never on arrival order: a cancellation is void when the suspensions of
that school year reported at or before it (the cancelled one included) total more than 45 days, or
when `board_met` says the board has met on that suspension. `board_met` is the hook for the
governing-board decisions of items 1-3 (another branch): until they land nothing has met.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from services.alerts.domain.grey_facts import CancellationFact
from services.alerts.domain.suspension_days import Report, YearSuspensions, winner

#: suspension natural key -> has the governing board met on it? (items 1-3 supply the real one)
BoardMet = Callable[[str], bool]


def no_board_meeting(_suspension_key: str) -> bool:
    return False


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: str  # over_45 | board_met
    days: float  # the school year's suspension days the refusal was judged on


def refusal(state: YearSuspensions, cancellation: CancellationFact, *, limit: float, board_met: BoardMet = no_board_meeting) -> Refusal | None:
    """Why this cancellation may not take effect (None: it may)."""
    reported: list[Report] = []
    for reports in state.by_key.values():
        known = {e: r for e, r in reports.items() if r.reported_at <= cancellation.cancelled_at}
        if known:
            reported.append(winner(known))
    days = sum(r.sessions for r in reported) / 2
    if days > limit:
        return Refusal("over_45", days)
    if board_met(cancellation.suspension_key):
        return Refusal("board_met", days)
    return None


def standing(state: YearSuspensions, cancellations: Iterable[CancellationFact], *, limit: float, board_met: BoardMet = no_board_meeting) -> YearSuspensions:
    """The year's suspensions without those cancelled lawfully."""
    cancelled = {c.suspension_key for c in cancellations if c.suspension_key in state.by_key and refusal(state, c, limit=limit, board_met=board_met) is None}
    if not cancelled:
        return state
    return YearSuspensions({k: v for k, v in state.by_key.items() if k not in cancelled})
