"""Proceedings as facts (issue 11): read from events, kept in the child's facts value, read back."""

from __future__ import annotations

from datetime import date

from services.alerts import facts_codec
from services.alerts.domain import informal
from services.common.exclusions import proceedings
from services.common.exclusions.proceedings import Proceedings, Step


def test_a_permanent_exclusion_notice_is_dated_by_its_uk_notification_day() -> None:
    notice = {"category": "permanent", "start_date": "2025-06-02", "school_urn": "101676", "la_code": "305", "notified_at": "2025-05-30T23:30:00Z"}
    step = proceedings.from_notice("notice:P", notice)
    assert step is not None and (step.kind, step.on, step.exclusion_start) == ("permanent", date(2025, 5, 31), date(2025, 6, 2))  # BST
    assert proceedings.from_notice("notice:S", {**notice, "category": "suspension"}) is None


def test_return_records_give_permanent_exclusions_and_provision() -> None:
    def submitted(kind: str) -> dict:
        return {"la_code": "334", "record": {"kind": kind, "school_urn": "104119", "start_date": "2025-05-06", "end_date": "2025-07-18"}}

    pex = proceedings.from_return("la-return:R|1", submitted("permanent_exclusion"))
    ap = proceedings.from_return("la-return:R|2", submitted("alternative_provision"))
    assert pex is not None and (pex.kind, pex.on) == ("permanent", date(2025, 5, 6))
    assert ap is not None and (ap.kind, ap.exclusion_start, ap.on, ap.until, ap.detail) == ("provision", None, date(2025, 5, 6), date(2025, 7, 18), "return")
    assert proceedings.from_return("la-return:R|3", submitted("managed_move")) is None


def test_the_facts_value_keeps_proceedings_and_a_row_without_them_reads_as_none() -> None:
    state = Proceedings()
    steps = [
        Step("decision", "board-decision:D", "101676", "305", date(2025, 3, 10), date(2025, 3, 20), date(2025, 3, 21), "upheld", "permanent"),
        Step("provision", "provision:E", "101676", "305", date(2025, 3, 10), date(2025, 3, 17), None, "la", noticed="2025-03-14T09:00:00+00:00"),
        Step("provision", "la-return:R|2", "104119", "334", None, date(2025, 5, 6)),
    ]
    for s in steps:
        assert proceedings.record(state, s)
    assert not proceedings.record(state, steps[0])  # the same event again counts once
    value = facts_codec.encode({}, informal.Incidents(), steps=state)
    assert facts_codec.decode_proceedings(value) == state
    assert facts_codec.decode(value) == ({}, informal.Incidents())
    assert facts_codec.decode_proceedings(facts_codec.encode({}, informal.Incidents())) == Proceedings()
    assert b'"p"' not in facts_codec.encode({}, informal.Incidents(), steps=Proceedings())  # rows without proceedings stay as they were
