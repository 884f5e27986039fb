"""Facts from intake events (as they travel on Kafka: the schemas' JSON)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import factories as fx
import pytest

from schemas.intake import Call, ExclusionNotice, LAReturnRecordSubmitted
from services.common.exclusions import facts

UPN = fx.valid_upn("305200000001")


def notice_json(**overrides) -> dict:
    return json.loads(
        ExclusionNotice.model_validate(fx.make_notice({"upn": UPN}, **overrides)).model_dump_json()
    )


def call_json(**overrides) -> dict:
    return json.loads(Call.model_validate(fx.make_call({"upn": ...}, **overrides)).model_dump_json())


def record_json(**overrides) -> dict:
    record = fx.make_record({"upn": UPN}, **{"end_date": ..., **overrides})
    submitted = LAReturnRecordSubmitted(
        return_id="R-1",
        la_code="305",
        period_start=date(2025, 1, 6),
        period_end=date(2025, 3, 31),
        submitted_at="2025-04-01T08:30:00Z",
        record=record,
    )
    return json.loads(submitted.model_dump_json())


def test_a_suspension_notice_gives_its_sessions():
    fact = facts.suspension_from_notice("notice:N1", notice_json(sessions=5, start_date="2025-03-03"))
    assert (fact.upn, fact.school_urn, fact.la_code, fact.start_date, fact.sessions, fact.days) == (
        UPN,
        "101676",
        "305",
        date(2025, 3, 3),
        5,
        2.5,
    )
    assert fact.event_id == "notice:N1"


def test_a_lunchtime_notice_counts_one_session_per_lunchtime():
    fact = facts.suspension_from_notice(
        "notice:N1", notice_json(category="lunchtime", sessions=..., lunchtimes=3)
    )
    assert (fact.sessions, fact.days) == (3, 1.5)


def test_a_permanent_exclusion_is_not_a_suspension():
    assert facts.suspension_from_notice("notice:N1", notice_json(category="permanent", sessions=...)) is None


def test_the_notice_and_the_la_return_of_one_suspension_share_a_key():
    notice = facts.suspension_from_notice("notice:N1", notice_json(start_date="2025-02-03", sessions=2))
    returned = facts.suspension_from_return(
        "la-return:R-1:REC1", record_json(start_date="2025-02-03", sessions=2)
    )
    assert notice.key == returned.key
    assert notice.event_id != returned.event_id


def test_a_different_session_count_is_the_same_suspension_corrected():
    """Issue 8: UPN + school + start date is the suspension; a report with other sessions corrects it
    (the latest reported counts: suspension_days), it is not a second suspension."""
    notice = facts.suspension_from_notice("notice:N1", notice_json(start_date="2025-02-03", sessions=2))
    returned = facts.suspension_from_return(
        "la-return:R-1:REC1", record_json(start_date="2025-02-03", sessions=3)
    )
    assert notice.key == returned.key
    assert (notice.sessions, returned.sessions) == (2, 3)
    assert notice.reported_at < returned.reported_at  # the school's notice, then the LA's return


def test_another_start_date_or_school_is_another_suspension():
    notice = facts.suspension_from_notice("notice:N1", notice_json(start_date="2025-02-03", sessions=2))
    assert notice.key != facts.suspension_from_notice("notice:N2", notice_json(start_date="2025-02-04", sessions=2)).key
    assert notice.key != facts.suspension_from_notice("notice:N3", notice_json(start_date="2025-02-03", sessions=2, school_urn="104041")).key


def test_a_return_record_of_another_kind_is_not_a_suspension():
    assert (
        facts.suspension_from_return(
            "e", record_json(kind="part_time_timetable", sessions=..., reason_codes=[])
        )
        is None
    )


def test_a_sent_home_call_gives_one_incident_per_date():
    call = call_json(incident_dates=["2025-03-05", "2025-03-07"], received_at="2025-03-10T14:00:00Z")
    incidents = facts.incidents_from_call("call:C1", call)
    assert [i.day for i in incidents] == [date(2025, 3, 5), date(2025, 3, 7)]
    assert {(i.event_id, i.school_urn, i.la_code) for i in incidents} == {("call:C1", "101676", "305")}


def test_an_off_rolling_call_is_an_incident_too():
    incidents = facts.incidents_from_call(
        "call:C1", call_json(concerns=["off_rolling"], incident_dates=["2025-03-05"])
    )
    assert [i.day for i in incidents] == [date(2025, 3, 5)]


@pytest.mark.parametrize(
    "concerns",
    [["part_time_timetable"], ["suspension", "isolation"], ["managed_move", "ehe_pressure", "other"]],
)
def test_other_concerns_are_not_informal_exclusions(concerns):
    assert facts.incidents_from_call("call:C1", call_json(concerns=concerns)) == []


def test_without_incident_dates_the_call_date_is_the_incident():
    incidents = facts.incidents_from_call(
        "call:C1", call_json(incident_dates=[], received_at="2025-03-10T14:00:00Z")
    )
    assert [i.day for i in incidents] == [date(2025, 3, 10)]


def test_without_incident_dates_the_call_date_is_the_uk_date():
    incidents = facts.incidents_from_call(
        "call:C1", call_json(incident_dates=[], received_at="2025-06-11T00:30:00+01:00")
    )
    assert [i.day for i in incidents] == [date(2025, 6, 11)]


def test_a_sent_home_return_record_is_an_incident():
    incident = facts.incident_from_return(
        "la-return:R-1:REC1",
        record_json(kind="sent_home", start_date="2025-02-10", sessions=..., reason_codes=[]),
    )
    assert (incident.day, incident.event_id, incident.school_urn, incident.la_code) == (
        date(2025, 2, 10),
        "la-return:R-1:REC1",
        "101676",
        "305",
    )


def test_a_suspension_return_record_is_not_an_incident():
    assert facts.incident_from_return("e", record_json()) is None


@pytest.mark.parametrize("timestamp", ["2025-03-03T09:00:00Z", "2025-03-03T09:00:00+00:00", "2025-03-03T09:00:00.5Z", "2025-03-03T09:00:00.123456Z",
                                       "2025-03-03T09:00:00+01:00", "2025-03-03T09:00:00-00:00", "2025-03-03 09:00:00Z", "2025-03-03T09:00+00:00",
                                       "2025-10-26T01:30:00+01:00"])  # fmt: skip
def test_every_form_of_a_timestamp_gives_the_one_comparable_utc_form(timestamp):
    assert facts.utc_iso(timestamp) == datetime.fromisoformat(timestamp.replace("Z", "+00:00")).astimezone(UTC).isoformat(timespec="microseconds")


@pytest.mark.parametrize("timestamp", ["2025-13-03T09:00:00Z", "2025-03-03T09:00:0xZ", "2025-03-03T25:00:00+00:00", "2025-03-03T09:00:00+0x:00"])
def test_a_timestamp_that_is_not_one_is_refused_whatever_its_form(timestamp):
    with pytest.raises(ValueError):
        facts.utc_iso(timestamp)
