"""The child stage against a real store: identity, facts, child alerts, idempotent redelivery."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import factories as fx
import pytest

from schemas.alerts import AlertStatus, Rule, Severity
from schemas.topics import ALERTS, CHILDREN, EXCLUSION_NOTICES, SCHOOL_SUSPENSIONS
from services.alerts import tables
from services.alerts.child_state import NO_INCIDENTS, NO_RECORDS, NO_STEPS
from services.alerts.domain import informal
from services.alerts.domain.linking import child_id_for_upn
from services.common.exclusions.facts import IncidentFact
from services.common.exclusions.findings import alert_id

pytestmark = pytest.mark.integration

NOW = datetime(2025, 3, 20, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=1)

# The public scenario p1 (Bromley, LA 305): 22 + 22 + 22 + 16 + 10 sessions in 2024/25.
P1_UPN = "W305541021101"
P1_PUPIL = {
    "upn": P1_UPN,
    "first_name": "Amara",
    "last_name": "Okafor",
    "date_of_birth": "2011-03-14",
    "year_group": "8",
    "sen_status": "E",
    "sen_primary_need": "SEMH",
}
P1 = (("2024-09-16", 22), ("2024-10-07", 22), ("2024-11-11", 22), ("2025-01-13", 16), ("2025-03-03", 10))

# A child known by UPN; calls about "her" come with or without it.
ZOE = {"first_name": "Zoë", "last_name": "Smith-Jones", "date_of_birth": "2014-05-01"}


def p1_notice(i: int) -> dict:
    start, sessions = P1[i]
    return fx.make_notice(
        P1_PUPIL,
        notice_id=f"p1-n{i + 1}",
        start_date=start,
        end_date=...,
        sessions=sessions,
        notified_at=f"{start}T09:00:00Z",
        reason_codes=["DB"],
    )


def zoe_notice(upn: str, **overrides) -> dict:
    return fx.make_notice({**ZOE, "upn": upn}, **overrides)


def zoe_call(
    *incident_dates: str, upn: str | None = None, received_at: str = "2025-03-10T14:00:00Z", **pupil
) -> dict:
    return fx.make_call(
        {**ZOE, "upn": upn or ..., **pupil}, incident_dates=list(incident_dates), received_at=received_at
    )


def informal_alert_id(child_id: str, year: str = "2024/25") -> str:
    return alert_id(Rule.informal_exclusions_repeated, "child", child_id, year, None)


# --------------------------------------------------------------------------- 45 days


#: The contract's 45-day rules. P1's suspensions also raise issue 11's rules (the third in a term, and
#: its projection); these tests follow the two 45-day alerts, tests/unit/alerts the others.
LIMIT_RULES = (Rule.suspension_days_nearing_limit, Rule.suspension_days_limit_exceeded)


def limit_alerts(changed: list) -> list:
    return [a for a in changed if a.rule in LIMIT_RULES]


def test_p1_nearing_then_high_then_exceeded_one_alert_per_rule(alerts):
    cid = child_id_for_upn(P1_UPN)
    nearing_id = alert_id(Rule.suspension_days_nearing_limit, "child", cid, "2024/25", None)
    exceeded_id = alert_id(Rule.suspension_days_limit_exceeded, "child", cid, "2024/25", None)

    for i in range(2):
        assert alerts.run([alerts.notice(p1_notice(i))], NOW).changed_alerts == []

    third = alerts.run([alerts.notice(p1_notice(2))], NOW)
    [nearing] = limit_alerts(third.changed_alerts)
    assert (nearing.id, nearing.rule, nearing.severity, nearing.value, nearing.threshold) == (
        nearing_id,
        Rule.suspension_days_nearing_limit,
        Severity.warning,
        33,
        30,
    )
    assert (
        nearing.subject.child_id,
        nearing.subject.upn,
        nearing.academic_year,
        nearing.status,
        nearing.version,
    ) == (cid, P1_UPN, "2024/25", AlertStatus.open, 1)
    assert [
        (m.key, c.change) for m, c in zip(alerts.on(third, ALERTS), alerts.alert_changes(third), strict=True) if c.alert.rule in LIMIT_RULES
    ] == [(cid, "raised")]

    fourth = alerts.run([alerts.notice(p1_notice(3))], NOW)
    [nearing] = limit_alerts(fourth.changed_alerts)
    assert (nearing.id, nearing.severity, nearing.value, nearing.threshold, nearing.version) == (
        nearing_id,
        Severity.high,
        41,
        40,
        2,
    )

    fifth = alerts.run([alerts.notice(p1_notice(4))], NOW)
    changed = {a.rule: a for a in fifth.changed_alerts}
    assert (
        changed[Rule.suspension_days_nearing_limit].id,
        changed[Rule.suspension_days_nearing_limit].value,
    ) == (nearing_id, 46)
    exceeded = changed[Rule.suspension_days_limit_exceeded]
    assert (exceeded.id, exceeded.severity, exceeded.value, exceeded.threshold, exceeded.version) == (
        exceeded_id,
        Severity.critical,
        46,
        45,
        1,
    )

    stored = {a.id: a for a in limit_alerts(alerts.store.alerts_of_subjects([cid]))}
    assert set(stored) == {nearing_id, exceeded_id}
    assert len(stored[exceeded_id].evidence) == 5
    assert sum(r["sessions"] for r in alerts.suspension_reports()) / 2 == 46


def test_each_new_suspension_is_passed_on_keyed_by_school(alerts):
    result = alerts.run([alerts.notice(p1_notice(i)) for i in range(3)], NOW)
    assert [m.key for m in alerts.on(result, SCHOOL_SUSPENSIONS)] == ["101676"] * 3
    assert all(P1_UPN not in m.value.decode() for m in alerts.on(result, SCHOOL_SUSPENSIONS))


def test_a_batch_redelivered_changes_nothing_even_after_a_restart(alerts):
    upn = fx.valid_upn()
    batch = [alerts.notice(p1_notice(i)) for i in range(5)] + [
        alerts.call(zoe_call("2025-03-05", "2025-03-07", upn=upn)),
        alerts.record(
            fx.make_record(
                {**ZOE, "upn": upn},
                kind="sent_home",
                start_date="2025-03-12",
                end_date=...,
                sessions=...,
                reason_codes=[],
            )
        ),
    ]
    first = alerts.run(batch, NOW)
    assert len(limit_alerts(first.changed_alerts)) == 2  # nearing + exceeded for Amara
    assert {a.rule for a in first.changed_alerts} - set(LIMIT_RULES) == {Rule.informal_exclusions_repeated, Rule.suspensions_in_term}  # Zoë; Amara's 3rd in a term
    before = {
        t.name: alerts.rows(t)
        for t in (
            tables.children,
            tables.alerts,
            tables.candidates,
            tables.audit,
        )
    }

    for restart in (False, True):
        if restart:
            alerts.child.reset()  # a restart: empty caches, the store is the truth
        again = alerts.run(batch, LATER)
        assert again.changed_alerts == [] and again.dead_letters == []
        # the call's child event and the suspensions for the school stage again: idempotent by their ids
        assert {m.topic for m in alerts.out(again)} <= {CHILDREN.name, SCHOOL_SUSPENSIONS.name}
        assert {
            t.name: alerts.rows(t)
            for t in (
                tables.children,
                tables.alerts,
                tables.candidates,
                tables.audit,
            )
        } == before


def test_a_school_notice_and_the_la_return_of_the_same_suspension_count_once(alerts):
    upn = fx.valid_upn()
    notice = zoe_notice(upn, start_date="2025-01-13", end_date=..., sessions=60)
    [raised] = alerts.run([alerts.notice(notice)], NOW).changed_alerts
    assert raised.value == 30

    record = fx.make_record({**ZOE, "upn": upn}, start_date="2025-01-13", end_date=..., sessions=60)
    result = alerts.run([alerts.record(record)], LATER)
    assert result.changed_alerts == []
    # the school hears of it again under the same suspension id (it counts each id once)
    assert {m.headers[1] for m in alerts.school_suspensions(result)} == {m.headers[1] for m in alerts.school_suspensions(alerts.run([alerts.notice(notice)], LATER))}
    rows = alerts.suspension_reports()  # both reports are kept; one suspension counts
    assert {r["key"] for r in rows} == {f"{upn}|101676|2025-01-13"} and {r["sessions"] for r in rows} == {60}
    assert alerts.alert(raised.id).evidence == [f"notice:{notice['notice_id']}"]
    assert alerts.alert(raised.id).value == 30


def test_suspensions_in_two_academic_years_are_counted_apart(alerts):
    upn = fx.valid_upn()
    batch = [
        alerts.notice(zoe_notice(upn, start_date=start, end_date=..., sessions=40))
        for start in ("2024-06-03", "2024-09-16")
    ]
    assert alerts.run(batch, NOW).changed_alerts == []  # 20 days in 2023/24, 20 in 2024/25
    assert sorted(r["academic_year"] for r in alerts.suspension_reports()) == ["2023/24", "2024/25"]


# --------------------------------------------------------------------------- one child, many sources


@pytest.mark.parametrize(("first", "last"), [("ZOE", "smith jones"), ("  zoë ", "Smith  -  JONES")])
def test_a_call_without_upn_links_to_the_child_known_by_upn(alerts, first, last):
    upn = fx.valid_upn()
    cid = child_id_for_upn(upn)
    alerts.run([alerts.notice(zoe_notice(upn))], NOW)

    result = alerts.run(
        [alerts.call(zoe_call("2025-03-05", "2025-03-07", first_name=first, last_name=last))], NOW
    )

    [event] = alerts.child_events(result)
    assert [m.key for m in alerts.on(result, CHILDREN)] == [cid]
    assert (event.source, event.child.child_id, event.child.upn) == ("call", cid, upn)
    [informal] = result.changed_alerts
    assert (informal.id, informal.subject.upn, informal.value) == (informal_alert_id(cid), upn, 2)
    # The call is a record of its own that counts as the child: linked automatically (exact match), and
    # shown as a confirmed candidate so a person can undo it.
    call_record = next(r["child_id"] for r in alerts.rows(tables.children) if r["child_id"] != cid)
    assert {r["child_id"]: r["merged_into"] for r in alerts.rows(tables.children)} == {cid: None, call_record: cid}
    [link] = alerts.rows(tables.candidates)
    assert (link["child_id"], link["candidate_child_id"], link["status"], link["decided_by"]) == (call_record, cid, "confirmed", "signpost")
    assert event.record_child_id == call_record


def test_a_call_without_upn_first_is_linked_when_the_upn_arrives(alerts):
    upn = fx.valid_upn()
    cid = child_id_for_upn(upn)
    call = zoe_call("2025-03-05", "2025-03-07", first_name="zoe", last_name="SMITH JONES")
    [early] = alerts.run([alerts.call(call)], NOW).changed_alerts
    upnless_child = early.subject.child_id
    assert upnless_child != cid and early.subject.upn is None

    result = alerts.run([alerts.notice(zoe_notice(upn))], LATER)

    changed = {a.subject.child_id: a for a in result.changed_alerts}
    assert (changed[upnless_child].status, changed[upnless_child].status_note) == (
        AlertStatus.resolved,
        f"linked to child {cid}",
    )
    informal = changed[cid]
    assert (informal.id, informal.rule, informal.value, informal.subject.upn, informal.status) == (
        informal_alert_id(cid),
        Rule.informal_exclusions_repeated,
        2,
        upn,
        AlertStatus.open,
    )
    assert informal.evidence == [f"call:{call['call_id']}"]
    [link] = [a for a in alerts.rows(tables.audit) if a["action"] == "link_children"]
    assert (link["object_id"], link["child_id"], link["principal"]) == (upnless_child, cid, "signpost")
    merged = {r["child_id"]: r["merged_into"] for r in alerts.rows(tables.children)}
    assert merged == {upnless_child: cid, cid: None}


def test_after_the_automatic_link_the_call_redelivered_changes_nothing(alerts):
    upn = fx.valid_upn()
    call = alerts.call(zoe_call("2025-03-05", "2025-03-07"))
    alerts.run([call], NOW)
    alerts.run([alerts.notice(zoe_notice(upn))], NOW)
    alerts.child.reset()

    again = alerts.run([call], LATER)

    assert again.changed_alerts == []
    assert [e.child.child_id for e in alerts.child_events(again)] == [child_id_for_upn(upn)]


def test_a_call_without_upn_in_the_same_batch_as_the_notice_links_to_its_child(alerts):
    upn = fx.valid_upn()
    cid = child_id_for_upn(upn)

    result = alerts.run(
        [alerts.notice(zoe_notice(upn)), alerts.call(zoe_call("2025-03-05", "2025-03-07"))], NOW
    )

    assert [e.child.child_id for e in alerts.child_events(result)] == [cid]
    assert [a.subject.child_id for a in result.changed_alerts] == [cid]


def test_a_call_without_upn_first_then_the_notice_in_one_batch_links_without_failing(alerts):
    """The call (no UPN, informal incidents) makes a child; the notice with the UPN in the same batch
    links it: detection must run on the linked child only (it used to raise and retry forever)."""
    upn = fx.valid_upn()
    cid = child_id_for_upn(upn)

    result = alerts.run(
        [alerts.call(zoe_call("2025-03-05", "2025-03-07")), alerts.notice(zoe_notice(upn))], NOW
    )

    assert not result.rejected
    assert [a.subject.child_id for a in result.changed_alerts if a.rule == Rule.informal_exclusions_repeated] == [cid]


def test_a_call_without_upn_handled_by_another_worker_is_linked_when_the_upn_arrives(alerts):
    alerts.run(
        [alerts.notice(fx.make_notice({"first_name": "Amir", "last_name": "Khan"}))], NOW
    )  # this worker has met a new child
    other = alerts.another_worker()
    call = alerts.run([alerts.call(zoe_call("2025-03-05", "2025-03-07"))], NOW, stage=other)
    upnless_child = alerts.child_events(call)[0].child.child_id
    upn = fx.valid_upn()

    alerts.run([alerts.notice(zoe_notice(upn))], LATER)

    merged = {r["child_id"]: r["merged_into"] for r in alerts.rows(tables.children)}
    assert merged[upnless_child] == child_id_for_upn(upn)


def test_a_near_match_is_proposed_never_linked(alerts):
    upn = fx.valid_upn()
    alerts.run([alerts.notice(zoe_notice(upn))], NOW)

    result = alerts.run([alerts.call(zoe_call("2025-03-05", last_name="Smith-Jonse"))], NOW)

    [candidate] = alerts.rows(tables.candidates)
    assert (
        candidate["candidate_child_id"],
        candidate["status"],
        candidate["reason"],
        candidate["la_code"],
    ) == (child_id_for_upn(upn), "pending", "names differ by a typo", "305")
    [event] = alerts.child_events(result)
    assert event.child.child_id == candidate["child_id"] != child_id_for_upn(upn)
    assert all(r["merged_into"] is None for r in alerts.rows(tables.children))
    assert not [a for a in alerts.rows(tables.audit) if a["action"] == "link_children"]


def test_a_near_match_is_proposed_when_the_upn_arrives_later(alerts):
    call = alerts.run([alerts.call(zoe_call("2025-03-05", last_name="Smith-Jonse"))], NOW)
    upnless_child = alerts.child_events(call)[0].child.child_id
    upn = fx.valid_upn()

    alerts.run([alerts.notice(zoe_notice(upn))], LATER)

    [candidate] = alerts.rows(tables.candidates)
    assert (candidate["child_id"], candidate["candidate_child_id"], candidate["status"]) == (
        upnless_child,
        child_id_for_upn(upn),
        "pending",
    )
    assert all(r["merged_into"] is None for r in alerts.rows(tables.children))


def _near_match_with_one_incident_each(alerts) -> tuple[str, str, str]:
    """Zoë (UPN) has one informal exclusion on record; a call without UPN, her name mistyped, reports another."""
    upn = fx.valid_upn()
    alerts.run(
        [
            alerts.notice(zoe_notice(upn)),
            alerts.call(zoe_call("2025-03-10", upn=upn, received_at="2025-03-11T10:00:00Z")),
        ],
        NOW,
    )
    typo_call = zoe_call("2025-03-05", last_name="Smith-Jonse")
    assert alerts.run([alerts.call(typo_call)], NOW).changed_alerts == []
    [candidate] = alerts.rows(tables.candidates)
    return candidate["id"], child_id_for_upn(upn), f"call:{typo_call['call_id']}"


def test_confirming_a_near_match_counts_its_incidents_for_the_upn_child(alerts):
    candidate_id, cid, typo_event = _near_match_with_one_incident_each(alerts)

    alerts.decide(candidate_id, "confirm", LATER)
    result = alerts.run([], LATER)

    [informal] = result.changed_alerts
    assert (informal.id, informal.value, informal.status) == (informal_alert_id(cid), 2, AlertStatus.open)
    assert typo_event in informal.evidence
    assert alerts.store.candidate(candidate_id)["status"] == "confirmed"
    assert alerts.alert(informal.id).value == 2


def test_records_without_incidents_share_one_empty_set_of_facts_and_a_record_that_gets_one_has_its_own(alerts):
    """Most records have no incidents, LA-return records or proceedings: they share read-only empty ones
    (memory), so an incident recorded for one child must reach that child alone, before and after a reload."""
    told, quiet = fx.valid_upn(), fx.valid_upn()
    alerts.run([alerts.notice(zoe_notice(quiet)), alerts.notice(fx.make_notice({**ZOE, "first_name": "Ann", "upn": told}))], NOW)
    alerts.run([alerts.call(zoe_call("2025-03-10", upn=told, first_name="Ann"))], NOW)
    for stage in (alerts.child, alerts.another_worker()):  # as cached, then as read back from the store
        told_state, quiet_state = stage._state(child_id_for_upn(told)), stage._state(child_id_for_upn(quiet))
        assert [*told_state.incidents.by_day] == [date(2025, 3, 10)]
        assert quiet_state.incidents.by_day == {} and quiet_state.incidents is NO_INCIDENTS
        assert quiet_state.records is NO_RECORDS and quiet_state.steps is NO_STEPS
    with pytest.raises((TypeError, AttributeError)):  # read-only: a write that bypassed own_facts fails loudly
        informal.record(NO_INCIDENTS, IncidentFact(date(2025, 3, 11), "call:x", None, "305"))


def test_undoing_a_confirmed_match_separates_the_children_again(alerts):
    candidate_id, cid, _ = _near_match_with_one_incident_each(alerts)
    alerts.decide(candidate_id, "confirm", LATER)
    alerts.run([], LATER)

    alerts.decide(candidate_id, "undo", LATER)
    alerts.run([], LATER)

    upnless_child = alerts.store.candidate(candidate_id)["child_id"]
    assert {r["child_id"]: r["merged_into"] for r in alerts.rows(tables.children)} == {
        cid: None,
        upnless_child: None,
    }
    another = alerts.run(
        [alerts.call(zoe_call("2025-03-12", last_name="Smith-Jonse", received_at="2025-03-12T15:00:00Z"))],
        LATER,
    )
    assert [e.child.child_id for e in alerts.child_events(another)] == [upnless_child]


def test_undoing_a_confirmed_match_withdraws_the_alert_it_caused(alerts):
    candidate_id, cid, typo_event = _near_match_with_one_incident_each(alerts)
    alerts.decide(candidate_id, "confirm", LATER)
    [informal] = alerts.run([], LATER).changed_alerts

    alerts.decide(candidate_id, "undo", LATER)
    alerts.run([], LATER + timedelta(hours=1))

    after = alerts.alert(informal.id)
    assert after is not None, "an alert people saw is resolved, never deleted"
    assert after.status == AlertStatus.resolved, (after.status, after.value, after.evidence)


# --------------------------------------------------------------------------- other events


def test_a_permanent_exclusion_is_passed_on_as_a_child_event_not_suspension_days(alerts):
    upn = fx.valid_upn()
    notice = zoe_notice(upn, category="permanent", sessions=...)

    result = alerts.run([alerts.notice(notice)], NOW)

    assert [(m.topic, m.key) for m in alerts.out(result)] == [(CHILDREN.name, child_id_for_upn(upn))]
    [event] = alerts.child_events(result)
    assert (event.source, event.source_id, event.event_id, event.category) == (
        "exclusion_notice",
        notice["notice_id"],
        f"notice:{notice['notice_id']}",
        "permanent",
    )
    assert (event.child.upn, event.child.sen_needs) == (upn, ["ASD"])
    assert alerts.suspension_reports() == [] and result.changed_alerts == []


def test_a_permanent_exclusion_return_record_is_passed_on_too(alerts):
    upn = fx.valid_upn()
    record = fx.make_record({**ZOE, "upn": upn}, kind="permanent_exclusion", sessions=...)

    result = alerts.run([alerts.record(record, return_id="R-9")], NOW)

    [event] = alerts.child_events(result)
    assert (event.source, event.source_id, event.record_kind) == (
        "la_return_record",
        f"R-9|{record['record_id']}",
        "permanent_exclusion",
    )
    assert alerts.suspension_reports() == []


@pytest.mark.parametrize("value", [b"not json", b'{"la_code": "305"}', b"[]"])
def test_a_malformed_message_is_dead_lettered_and_the_rest_applied(alerts, value):
    upn = fx.valid_upn()
    good = [
        alerts.notice(zoe_notice(upn, start_date=start, end_date=...))
        for start in ("2025-03-03", "2025-03-10")
    ]
    broken = alerts.raw(EXCLUSION_NOTICES, value)

    result = alerts.run([good[0], broken, good[1]], NOW)

    [dead] = result.rejected
    assert dead.message is broken and dead.reason.startswith("invalid_payload")
    assert result.applied == 2
    assert len(alerts.suspension_reports()) == 2
