"""R-CANCEL at the door (issue 11, item 6): a cancellation the law does not allow is refused, not
accepted and then ignored.

The intake holds every notice and LA-return record it accepted, keyed by the child (the UPN's
pseudonymous key), so it can total the child's suspension days in the cancelled suspension's school
year, with the same pure rule as the alerts service (`services/common/exclusions/cancellation.py`).
It sees one UPN: a suspension reported under another UPN of the same child (a temporary one, linked
later), or one past the intake's retention, is not in its total; the alerts child stage applies the
same rule over every linked record, and there a void cancellation simply does not take effect.
"""

from __future__ import annotations

import orjson
from sqlalchemy import Engine, select

from schemas.intake import ExclusionCancellation
from schemas.pupil import upn_key
from schemas.topics import BOARD_DECISIONS, EXCLUSION_NOTICES, LA_RETURN_RECORDS
from services.common.calendar import CalendarRegistry
from services.common.exclusions import cancellation, grey_facts, proceedings, suspension_days
from services.common.exclusions import facts as f
from services.intake.tables import event_log, submissions

LIMIT = 45.0  # school days in a school year: the law, not a setting (SI 2012/1033 reg 4; domain.md §1.2)


def facts_of_cancelled(engine: Engine, calendars: CalendarRegistry, doc: ExclusionCancellation) -> tuple[suspension_days.YearSuspensions, proceedings.Proceedings]:
    """The child's suspension reports (this UPN) in the cancelled suspension's school year, and the
    governing board's decisions about the child's exclusions."""
    assert doc.pupil.upn is not None
    year = calendars.for_school(doc.la_code, doc.school_urn).academic_year(doc.start_date)
    query = select(event_log.c.topic, event_log.c.event_id, event_log.c.value).where(
        event_log.c.msg_key == upn_key(doc.pupil.upn), event_log.c.topic.in_([EXCLUSION_NOTICES.name, LA_RETURN_RECORDS.name, BOARD_DECISIONS.name])
    )
    state, steps = suspension_days.YearSuspensions(), proceedings.Proceedings()
    with engine.connect() as conn:
        for topic, event_id, value in conn.execute(query):
            body = orjson.loads(value)
            if topic == BOARD_DECISIONS.name:
                proceedings.record(steps, proceedings.from_event(proceedings.DECISION, event_id, body))
                continue
            fact = f.suspension_from_notice(event_id, body) if topic == EXCLUSION_NOTICES.name else f.suspension_from_return(event_id, body)
            if fact is not None and calendars.for_school(fact.la_code, fact.school_urn).academic_year(fact.start_date) == year:
                suspension_days.record(state, fact)
    return state, steps


def refusal(engine: Engine, calendars: CalendarRegistry, doc: ExclusionCancellation) -> cancellation.Refusal | None:
    """Over 45 days in that school year, or the board has already decided on the suspension: refused.
    A cancellation accepted before is not judged again (a retry gets its 200 duplicate, or its 409)."""
    with engine.connect() as conn:
        c = submissions.c
        if conn.execute(select(c.kind).where(c.kind == "exclusion_cancellation", c.source_id == doc.cancellation_id)).first() is not None:
            return None
    fact = grey_facts.from_cancellation("", orjson.loads(doc.model_dump_json()))
    year, steps = facts_of_cancelled(engine, calendars, doc)
    return cancellation.refusal(year, fact, limit=LIMIT, board_met=cancellation.boards_met(steps))
