"""domain/triggers.py: what can become a referral, and the labels the routing policy matches on."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from schemas.alerts import CHILD_RULES, Alert, AlertChanged, ChildSubject, SchoolSubject
from schemas.children import ChildEventResolved, ChildProfile
from schemas.codes import Concern
from schemas.intake import Consent
from services.referrals.domain.triggers import (
    Trigger,
    from_alert_changed,
    from_child_event,
    labels_for,
)

NOW = datetime(2025, 3, 6, 10, 0, tzinfo=UTC)


def child(**kw) -> dict:
    base = {
        "child_id": "ch-1",
        "la_code": "305",
        "upn": "A123456789012",
        "first_name": "Zoë",
        "last_name": "Smith",
        "date_of_birth": date(2014, 5, 1),
        "school_urn": "101676",
        "sen_status": "N",
    }
    base.update(kw)
    return ChildProfile(**base).model_dump(mode="json")


def alert_doc(
    rule: str = "suspension_days_nearing_limit",
    *,
    change: str = "raised",
    status: str = "open",
    subject=None,
    kid: dict | None = None,
    alert_id: str = "al-1",
) -> AlertChanged:
    kid = kid if kid is not None else child()
    subject = subject or ChildSubject(child_id=kid["child_id"], upn=kid.get("upn"))
    alert = Alert(
        id=alert_id,
        rule=rule,
        severity="warning",
        subject=subject,
        la_code="305",
        academic_year="2024/25",
        value=30,
        threshold=30,
        status=status,
        created_at=NOW,
        updated_at=NOW,
    )
    return AlertChanged(alert=alert, change=change, child=kid if subject.kind == "child" else None)


def child_event(source: str, source_id: str, *, kid: dict | None = None, **kw) -> ChildEventResolved:
    doc = {
        "event_id": f"ev-{source_id}",
        "source": source,
        "source_id": source_id,
        "occurred_at": NOW,
        "child": kid or child(),
    }
    doc.update(kw)
    return ChildEventResolved(**doc)


# --------------------------------------------------------------------------- labels_for


@pytest.mark.parametrize(
    "profile, send",
    [
        ({"sen_status": "E"}, "true"),
        ({"sen_status": "K"}, "true"),
        ({"sen_status": "N"}, "false"),
        ({"sen_status": "unknown"}, "false"),
        ({"sen_status": "N", "suspected_send": True}, "true"),
        ({"sen_status": "unknown", "suspected_send": True}, "true"),
        # any recorded primary need counts (contract: "E, K, suspected, or any recorded primary need")
        ({"sen_status": "unknown", "sen_needs": ["ASD"]}, "true"),
        ({"sen_status": "N", "sen_needs": ["SLCN"]}, "true"),
    ],
)
def test_labels_send_is_ehc_plan_sen_support_suspected_or_any_need(profile, send):
    labels = labels_for(child(**profile), reason="suspension_days_nearing_limit", event_kind="alert")
    assert labels["send"] == send
    assert labels["sen_status"] == profile["sen_status"]


@pytest.mark.parametrize(
    "needs, autistic",
    [([], "false"), (["SEMH"], "false"), (["ASD"], "true"), (["SLCN", "ASD"], "true")],
)
def test_labels_autistic_when_asd_is_any_need(needs, autistic):
    labels = labels_for(child(sen_needs=needs), reason="permanent_exclusion", event_kind="exclusion_notice")
    assert labels["autistic"] == autistic
    assert labels["primary_need"] == needs


def test_labels_received_by_and_consent_pass_through():
    labels = labels_for(
        child(),
        reason="exclusion_concern_call",
        event_kind="call",
        received_by="la_inclusion",
        consent={"share_with_nas": True, "share_with_ias": False},
    )
    assert labels["received_by"] == "la_inclusion"
    assert labels["reason"] == "exclusion_concern_call"
    assert labels["event_kind"] == "call"
    assert labels["consent_share_with_nas"] == "true"
    assert labels["consent_share_with_ias"] == "false"
    assert labels["consent_share_with_la"] == "false"


def test_labels_received_by_is_empty_outside_calls():
    labels = labels_for(child(looked_after=True), reason="suspension_days_limit_exceeded", event_kind="alert")
    assert labels["received_by"] == ""
    assert labels["looked_after"] == "true"
    assert labels["consent_share_with_nas"] == "false"


def test_labels_missing_sen_status_is_unknown():
    labels = labels_for({"child_id": "x"}, reason="permanent_exclusion", event_kind="la_return_record")
    assert labels["sen_status"] == "unknown"
    assert labels["send"] == "false"
    assert labels["autistic"] == "false"
    assert labels["primary_need"] == []


# --------------------------------------------------------------------------- from_alert_changed


@pytest.mark.parametrize("rule", sorted(CHILD_RULES))
@pytest.mark.parametrize("change", ["raised", "updated"])
def test_child_alert_raised_or_updated_is_a_trigger(rule, change):
    kid = child(sen_status="K")
    trigger = from_alert_changed(alert_doc(rule, change=change, kid=kid, alert_id="al-9"))
    assert isinstance(trigger, Trigger)
    assert trigger.key == "alert:al-9"
    assert trigger.reason == {"rule": rule, "alert_id": "al-9", "episode": 1}
    assert trigger.labels["reason"] == rule
    assert trigger.labels["event_kind"] == "alert"
    assert trigger.labels["send"] == "true"
    assert trigger.child == kid


@pytest.mark.parametrize("rule", sorted(CHILD_RULES))
def test_status_changes_route_nothing(rule):
    assert from_alert_changed(alert_doc(rule, change="status", status="acknowledged")) is None


def test_school_subject_routes_nothing():
    doc = alert_doc("suspension_days_nearing_limit", subject=SchoolSubject(school_urn="101676"))
    assert doc.child is None
    assert from_alert_changed(doc) is None


def test_end_of_term_spike_routes_nothing():
    assert (
        from_alert_changed(alert_doc("end_of_term_spike", subject=SchoolSubject(school_urn="101676"))) is None
    )
    # even if someone attached a child to it
    assert from_alert_changed(alert_doc("end_of_term_spike")) is None


@pytest.mark.parametrize("change", ["raised", "updated"])
def test_resolved_alerts_route_nothing(change):
    assert (
        from_alert_changed(alert_doc("informal_exclusions_repeated", change=change, status="resolved"))
        is None
    )


def test_acknowledged_alert_updated_with_new_evidence_still_routes():
    trigger = from_alert_changed(
        alert_doc("suspension_days_limit_exceeded", change="updated", status="acknowledged")
    )
    assert trigger is not None and trigger.reason["rule"] == "suspension_days_limit_exceeded"


# --------------------------------------------------------------------------- from_child_event


def test_permanent_exclusion_notice_is_a_trigger():
    trigger = from_child_event(child_event("exclusion_notice", "N-1", category="permanent"))
    assert trigger is not None
    assert trigger.key == "notice:N-1"
    assert trigger.reason == {"source": "exclusion_notice", "notice_id": "N-1"}
    assert trigger.labels["reason"] == "permanent_exclusion"
    assert trigger.labels["event_kind"] == "exclusion_notice"


@pytest.mark.parametrize("category", ["suspension", "lunchtime"])
def test_other_notices_are_not_triggers(category):
    assert from_child_event(child_event("exclusion_notice", "N-2", category=category)) is None


def test_permanent_exclusion_return_record_is_a_trigger():
    trigger = from_child_event(
        child_event("la_return_record", "R-1|REC-7", record_kind="permanent_exclusion")
    )
    assert trigger is not None
    assert trigger.key == "return:R-1|REC-7"
    assert trigger.reason == {"source": "la_return", "return_id": "R-1", "record_id": "REC-7"}
    assert trigger.labels["reason"] == "permanent_exclusion"
    assert trigger.labels["event_kind"] == "la_return_record"


@pytest.mark.parametrize(
    "kind", ["suspension", "sent_home", "part_time_timetable", "managed_move", "removal_from_roll"]
)
def test_other_return_records_are_not_triggers(kind):
    assert from_child_event(child_event("la_return_record", "R-1|REC-8", record_kind=kind)) is None


@pytest.mark.parametrize("concern", [c for c in Concern if c != Concern.other])
def test_call_with_an_exclusion_concern_is_a_trigger(concern):
    consent = Consent(share_with_nas=True)
    trigger = from_child_event(
        child_event("call", "C-1", concerns=[concern], received_by="la_inclusion", consent=consent)
    )
    assert trigger is not None
    assert trigger.key == "call:C-1"
    assert trigger.reason == {"source": "call", "call_id": "C-1"}
    assert trigger.labels["reason"] == "exclusion_concern_call"
    assert trigger.labels["received_by"] == "la_inclusion"
    assert trigger.labels["consent_share_with_nas"] == "true"


@pytest.mark.parametrize("concerns", [[], ["other"]])
def test_call_without_an_exclusion_concern_is_not_a_trigger(concerns):
    assert from_child_event(child_event("call", "C-2", concerns=concerns, received_by="ias")) is None


def test_call_taken_by_ias_is_still_a_trigger_the_policy_decides():
    trigger = from_child_event(
        child_event("call", "C-3", concerns=["sent_home_informally", "other"], received_by="ias")
    )
    assert trigger is not None and trigger.labels["received_by"] == "ias"
