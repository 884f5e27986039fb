"""Issue 11's facts: what each intake event carries, and the child row's encoding (old rows decode as empty)."""

from __future__ import annotations

from datetime import date

import orjson

from services.alerts import child_rules, facts_codec
from services.alerts.domain import informal
from services.common.exclusions import grey_facts as g
from tests.unit.alerts.grey_helpers import UPN, fact, records

PUPIL = {"upn": UPN, "first_name": "A", "last_name": "B", "date_of_birth": "2012-01-01", "year_group": "10"}


def record_doc(**rec) -> dict:
    return {"return_id": "R1", "la_code": "334", "submitted_at": "2025-01-10T10:00:00Z",
            "record": {"record_id": "1", "school_urn": "104119", "pupil": PUPIL, "start_date": "2024-11-04", **rec}}  # fmt: skip


def test_return_records_of_the_grey_kinds_become_facts():
    [ptt] = child_rules.facts_of("la-return-records.v1", "e1", record_doc(kind="part_time_timetable", review_date="2024-12-02", timetable_reason="behaviour"))
    assert (ptt.kind, ptt.review_date, ptt.behaviour, ptt.year_group) == ("part_time_timetable", date(2024, 12, 2), True, "10")
    [ptt] = child_rules.facts_of("la-return-records.v1", "e1", record_doc(kind="part_time_timetable", reason_codes=["DB"]))
    assert ptt.behaviour  # an exclusion reason code on a timetable is behaviour as the reason
    [mm] = child_rules.facts_of("la-return-records.v1", "e2", record_doc(kind="managed_move", trial=True, intended_return_date="2025-01-06"))
    assert mm.trial and mm.intended_return == date(2025, 1, 6)
    assert child_rules.facts_of("la-return-records.v1", "e3", record_doc(kind="suspension", sessions=2, reason_codes=["DB"])) == []


def test_a_permanent_exclusion_notice_and_a_threatening_call():
    notice = {"category": "permanent", "school_urn": "104119", "la_code": "334", "start_date": "2025-01-13", "pupil": PUPIL}
    [pex] = child_rules.facts_of("exclusion-notices.v1", "notice:N1", notice)
    assert pex.kind == g.PERMANENT
    call = {"concerns": ["permanent_exclusion"], "incident_dates": [], "received_at": "2025-01-13T23:30:00Z", "la_code": "334", "pupil": PUPIL}
    [threat] = child_rules.facts_of("calls.v1", "call:C1", call)
    assert (threat.kind, threat.start_date) == (g.THREAT, date(2025, 1, 13))


def test_a_cancellation_names_the_suspension_by_its_natural_key():
    doc = {"school_urn": "104119", "la_code": "334", "start_date": "2025-01-13", "cancelled_at": "2025-01-14T09:00:00Z", "pupil": PUPIL}
    [c] = child_rules.facts_of("exclusion-cancellations.v1", "cancellation:X", doc)
    assert c.suspension_key == f"{UPN}|104119|2025-01-13"


def test_the_encoding_round_trips_and_a_row_from_before_issue_11_decodes_as_empty():
    state = records(fact("part_time_timetable", date(2024, 11, 4), review_date=date(2024, 12, 2), behaviour=True, year_group="9"),
                    g.CancellationFact("k", "cancellation:X", "2025-01-14T09:00:00+00:00", "104119", "334", date(2025, 1, 13)))  # fmt: skip
    encoded = facts_codec.encode({}, informal.Incidents(), state)
    assert facts_codec.decode_records(encoded) == state
    assert facts_codec.decode(encoded) == ({}, informal.Incidents())
    old = orjson.dumps({"s": [], "i": []})
    assert facts_codec.decode_records(old) == g.ChildRecords()
    assert facts_codec.decode_records(None) == g.ChildRecords()
    assert b'"r"' not in facts_codec.encode({}, informal.Incidents(), g.ChildRecords())  # unchanged for children without them
