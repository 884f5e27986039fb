"""The school stage's reports of each suspension and how they reached the LA (issue 11, R-LA-ALL):
loaded per (school, term) like its term counts; written in the batch's transaction (Writes.school_reports)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine, select

from services.alerts import tables as t
from services.alerts.domain import late_notice


def load(engine: Engine, pairs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], late_notice.TermReports]:
    c = t.school_reports.c
    wanted = set(pairs)
    out = {pair: late_notice.TermReports() for pair in wanted}
    if not wanted:
        return out
    with engine.connect() as conn:
        rows = conn.execute(select(t.school_reports).where(c.school_urn.in_(sorted({s for s, _ in wanted})), c.term_id.in_(sorted({x for _, x in wanted}))))
        for r in rows:
            if (r.school_urn, r.term_id) in wanted:
                late_notice.record(out[(r.school_urn, r.term_id)], r.key, r.event_id, r.via, r.reported_at)
    return out


def row(school_urn: str, term_id: str, key: str, event_id: str, via: str, reported_at: str) -> dict:
    return {"school_urn": school_urn, "term_id": term_id, "key": key, "event_id": event_id, "via": via, "reported_at": reported_at}
