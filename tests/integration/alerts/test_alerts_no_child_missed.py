"""Issue 8, "No child missed": each defect the issue measured, as the child and school stages see it (real store)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import factories as fx
import pytest

from schemas.alerts import AlertStatus, Rule
from schemas.children import ChildLinkChanged
from schemas.topics import ALERTS, CHILD_LINKS
from schemas.upn import check_letter
from services.alerts import tables
from services.alerts.alerting import change_message
from services.alerts.domain import lifecycle
from services.alerts.domain.linking import child_id_for_upn
from services.common.exclusions.findings import alert_id

pytestmark = pytest.mark.integration
NOW = datetime(2025, 3, 20, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)


def upn(body: str) -> str:
    return check_letter(body) + body


MAYA = {"first_name": "Maya", "last_name": "Osei", "date_of_birth": "2011-06-02", "sen_status": "N"}


def notice(u: str, start: str, sessions: int, urn: str = "101676", la: str = "305", pupil: dict | None = None, **kw) -> dict:
    return fx.make_notice({**(pupil or MAYA), "upn": u}, school_urn=urn, la_code=la, start_date=start, end_date=..., sessions=sessions,
                          notified_at=kw.pop("notified_at", f"{start}T09:00:00Z"), **kw)  # fmt: skip


def informal_call(pupil: dict, *dates: str, la: str = "305", at: str | None = None, concerns: list[str] | None = None) -> dict:
    return fx.make_call(pupil, incident_dates=list(dates), la_code=la, received_at=at or f"{dates[-1] if dates else '2025-01-10'}T15:00:00Z",
                        concerns=concerns or ["sent_home_informally"], school_urn=..., received_by="la_inclusion")  # fmt: skip


def person_changes(alerts, alert, change, by: str = "inclusion-officer") -> None:
    """What the API does: compare-and-set on the version the person saw, history, audit, outbox; the stage is NOT told
    (another replica's API, say): only the store's version check stands between them."""
    _, urn = alerts.store.get_alert(alert.id)
    assert alerts.store.save_alert(change, urn, alert.version, [], by, [change_message(change, "status", None)])


def test_new_evidence_on_an_acknowledged_critical_alert_reopens_it(alerts):
    u = upn("305541099091")
    alerts.run([alerts.notice(notice(u, d, 24)) for d in ("2024-09-16", "2024-10-07", "2024-11-11", "2024-12-02")], NOW)
    exceeded = alerts.alert(alert_id(Rule.suspension_days_limit_exceeded, "child", child_id_for_upn(u), "2024/25", None))
    person_changes(alerts, exceeded, lifecycle.acknowledge(exceeded, "called the head", NOW))

    alerts.run([alerts.notice(notice(u, "2025-01-13", 4))], LATER)

    after = alerts.alert(exceeded.id)
    assert (after.status, after.value, after.episode, after.status_note) == (AlertStatus.open, 50, 1, "re-opened: new evidence")
    history = alerts.store.history(exceeded.id)
    assert [(h.version, h.change, h.status, h.by) for h in history] == [
        (1, "raised", "open", "signpost"), (2, "status", "acknowledged", "inclusion-officer"), (3, "evidence", "open", "signpost")]


def test_a_second_wave_after_a_person_resolved_it_opens_episode_2_and_is_announced(alerts):
    pupil = {**MAYA, "upn": upn("334465099010")}
    [raised] = alerts.run([alerts.call(informal_call(pupil, "2024-11-12")), alerts.call(informal_call(pupil, "2024-11-19"))], NOW).changed_alerts
    person_changes(alerts, raised, lifecycle.resolve(raised, "school agreed to stop", NOW, "inclusion-officer"))

    result = alerts.run([alerts.call(informal_call(pupil, "2025-02-03")), alerts.call(informal_call(pupil, "2025-02-10"))], LATER)

    [change] = alerts.alert_changes(result)
    assert (change.change, change.alert.episode, change.alert.status, change.alert.id) == ("evidence", 2, AlertStatus.open, raised.id)
    assert change.child is not None  # the referrals service routes episode 2 again


def test_a_person_acknowledgement_is_never_overwritten_by_a_stale_copy(alerts):
    """Issue 8 defect 11: the stage's cache overwrote the acknowledgement, its note and its version."""
    pupil = {**MAYA, "upn": upn("305541099180")}
    [raised] = alerts.run([alerts.call(informal_call(pupil, "2024-11-12")), alerts.call(informal_call(pupil, "2024-11-19"))], NOW).changed_alerts
    acknowledged = lifecycle.acknowledge(raised, "head teacher called", NOW)
    person_changes(alerts, raised, acknowledged)

    quiet = alerts.run([alerts.call(informal_call(pupil, at="2024-11-21T10:00:00Z", concerns=["isolation"]))], LATER)  # no new incident
    assert quiet.changed_alerts == []
    kept = alerts.alert(raised.id)
    assert (kept.status, kept.status_note, kept.version) == (AlertStatus.acknowledged, "head teacher called", 2)

    result = alerts.run([alerts.call(informal_call(pupil, "2024-11-26"))], LATER + timedelta(hours=1))
    assert alerts.stale_writes == 1  # the stage's copy was stale: caught by the version check, the batch done again
    after = alerts.alert(raised.id)
    assert (after.status, after.value, after.version) == (AlertStatus.open, 3, 3)
    ids = [dict(m.headers)["ce_id"].decode() for m in alerts.on(result, ALERTS)]
    assert ids == [f"{raised.id}:v3"]  # a version (and a ce_id) of its own
    assert [h.version for h in alerts.store.history(raised.id)] == [1, 2, 3]


def test_a_temporary_upn_and_the_permanent_one_are_proposed_urgent_and_confirming_shows_the_breach(alerts):
    """Issue 8 defect 2: two UPNs for one child split the cross-school total and the breach was missed."""
    temp, perm = upn("30554109911A"), upn("305541099110")
    alerts.run([alerts.notice(notice(temp, "2024-09-16", 48)), alerts.notice(notice(perm, "2024-11-11", 48, urn="101700"))], NOW)
    assert alerts.rows(tables.alerts) == []  # 24 days each: nothing alone
    [candidate] = alerts.rows(tables.candidates)
    assert (candidate["child_id"], candidate["candidate_child_id"], candidate["status"]) == (child_id_for_upn(temp), child_id_for_upn(perm), "pending")
    assert candidate["urgent"] and "48 suspension days" in candidate["urgent_reason"]

    alerts.decide(candidate["id"], "confirm", LATER)
    result = alerts.run([], LATER)

    [link] = [ChildLinkChanged.model_validate_json(m.value) for m in alerts.on(result, CHILD_LINKS)]
    assert (link.source_child_id, link.target_child_id, link.linked, link.by) == (child_id_for_upn(temp), child_id_for_upn(perm), True, "test-inclusion-team")
    exceeded = {a.rule: a for a in result.changed_alerts}[Rule.suspension_days_limit_exceeded]
    assert (exceeded.subject.child_id, exceeded.value) == (child_id_for_upn(perm), 48)


def test_a_later_namesake_undoes_an_automatic_link_and_proposes_every_match(alerts):
    """Issue 8 defect 7: the child a call attaches to depended on arrival order."""
    amir = {"first_name": "Amir", "last_name": "Khan", "date_of_birth": "2012-06-01"}
    first, second = upn("334465000003"), upn("334465000004")
    alerts.run([alerts.notice(notice(first, "2024-12-02", 4, urn="104041", la="334", pupil=amir))], NOW)
    alerts.run([alerts.call(informal_call({**amir, "upn": ...}, "2024-12-03", "2024-12-04", la="334"))], NOW)
    call_record = next(r["child_id"] for r in alerts.rows(tables.children) if r["merged_into"])
    assert alerts.alert(alert_id(Rule.informal_exclusions_repeated, "child", child_id_for_upn(first), "2024/25", None)) is not None

    result = alerts.run([alerts.notice(notice(second, "2024-12-09", 2, urn="104041", la="334", pupil=amir))], LATER)

    assert {r["child_id"]: r["merged_into"] for r in alerts.rows(tables.children)}[call_record] is None
    [link] = [ChildLinkChanged.model_validate_json(m.value) for m in alerts.on(result, CHILD_LINKS)]
    assert (link.source_child_id, link.target_child_id, link.linked) == (call_record, child_id_for_upn(first), False)
    pending = {frozenset((c["child_id"], c["candidate_child_id"])) for c in alerts.rows(tables.candidates) if c["status"] == "pending"}
    assert pending == {frozenset((call_record, child_id_for_upn(first))), frozenset((call_record, child_id_for_upn(second))),
                       frozenset((child_id_for_upn(first), child_id_for_upn(second)))}  # fmt: skip
    # the incidents no longer count for the first namesake: its alert is withdrawn, the call's own record has one
    gone = alerts.alert(alert_id(Rule.informal_exclusions_repeated, "child", child_id_for_upn(first), "2024/25", None))
    assert (gone.status, gone.resolved_by) == (AlertStatus.resolved, "signpost")
    own = alerts.alert(alert_id(Rule.informal_exclusions_repeated, "child", call_record, "2024/25", None))
    assert own.status == AlertStatus.open


def test_a_call_from_the_home_la_about_a_child_at_school_next_door_is_proposed(alerts):
    """Issue 8 defect 5: near matches required the same LA."""
    ruby = {"first_name": "Ruby", "last_name": "Fenwick", "date_of_birth": "2012-03-08"}
    u = upn("334465099140")
    alerts.run([alerts.notice(notice(u, "2024-10-07", 4, urn="104041", la="334", pupil=ruby))], NOW)
    alerts.run([alerts.call(informal_call({**ruby, "upn": ...}, "2024-10-09", la="305"))], NOW)
    [c] = alerts.rows(tables.candidates)
    assert (c["candidate_child_id"], c["la_code"], c["candidate_la_code"], c["reason"]) == (
        child_id_for_upn(u), "305", "334", "the same names and date of birth in another LA")
    assert alerts.store.candidates("pending", frozenset({"305"}), 10) and alerts.store.candidates("pending", frozenset({"334"}), 10)


@pytest.mark.parametrize(("written", "said"), [("Smith-Jones", "SmithJones"), ("O'Brien", "O Brien"), ("Łukasz", "Lukasz")])
def test_names_as_the_contract_compares_them_link_a_call(alerts, written, said):
    """Issue 8 defect 9."""
    u = upn("305541099160")
    alerts.run([alerts.notice(notice(u, "2024-10-07", 2, pupil={**MAYA, "last_name": written}))], NOW)
    result = alerts.run([alerts.call(informal_call({**MAYA, "last_name": said, "upn": ...}, "2024-10-09", "2024-10-16"))], LATER)
    assert [(a.rule, a.subject.child_id) for a in result.changed_alerts] == [(Rule.informal_exclusions_repeated, child_id_for_upn(u))]


def test_a_child_moving_to_a_school_in_another_la_is_that_las_and_stays_the_first_las(alerts):
    """Issue 8 defect 4: the alert's la_code was frozen at the child's first source."""
    u = upn("305541099130")
    alerts.run([alerts.notice(notice(u, "2024-09-16", 40)), alerts.notice(notice(u, "2024-11-11", 52, urn="104041", la="334"))], NOW)
    exceeded = alerts.alert(alert_id(Rule.suspension_days_limit_exceeded, "child", child_id_for_upn(u), "2024/25", None))
    assert (exceeded.la_code, exceeded.la_codes) == ("334", ["305", "334"])
    for la in ("305", "334"):
        items, _ = alerts.store.list_alerts({"rule": "suspension_days_limit_exceeded"}, frozenset({la}), 10, None)
        assert [a.id for a in items] == [exceeded.id]
    assert alerts.store.list_alerts({"la_code": "305"}, None, 10, None)[0]
    assert alerts.store.list_alerts({}, frozenset({"204"}), 10, None)[0] == []


def test_an_alert_that_gains_an_la_in_a_later_batch_is_read_by_both_las_and_keeps_them(alerts):
    """An alert's LA rows (who may read it) are rewritten only when its LAs change: a call from another
    LA in a later batch makes the alert that LA's too, though its own LA stays; a later change keeping
    its LAs leaves them as they are."""
    u = upn("305541099150")
    nearing_id = alert_id(Rule.suspension_days_nearing_limit, "child", child_id_for_upn(u), "2024/25", None)
    alerts.run([alerts.notice(notice(u, "2024-09-16", 64))], NOW)  # 32 days, at a school in 305
    assert [a.id for a in alerts.store.list_alerts({}, frozenset({"334"}), 10, None)[0]] == []
    alerts.run([alerts.call(informal_call({**MAYA, "upn": u}, la="334", concerns=["suspension"]))], LATER)  # LA 334 hears of the child
    assert alerts.alert(nearing_id).la_codes == ["305", "334"] and alerts.alert(nearing_id).la_code == "305"
    alerts.run([alerts.notice(notice(u, "2024-11-18", 4))], LATER)  # 34 days: the same LAs
    assert alerts.alert(nearing_id).value == 34
    for la in ("305", "334"):
        assert [a.id for a in alerts.store.list_alerts({"rule": "suspension_days_nearing_limit"}, frozenset({la}), 10, None)[0]] == [nearing_id]


def test_a_correction_replaces_the_suspension_and_an_alert_it_disproves_is_resolved(alerts):
    """Issue 8 defect 10 (children)."""
    u = upn("305541099170")
    alerts.run([alerts.notice(notice(u, "2024-09-16", 40)), alerts.notice(notice(u, "2024-10-07", 30))], NOW)
    nearing = alerts.alert(alert_id(Rule.suspension_days_nearing_limit, "child", child_id_for_upn(u), "2024/25", None))
    assert nearing.value == 35

    alerts.run([alerts.notice(notice(u, "2024-10-07", 10, notified_at="2024-10-08T09:00:00Z"))], LATER)

    after = alerts.alert(nearing.id)
    assert (after.status, after.resolved_by) == (AlertStatus.resolved, "signpost") and after.status_note.startswith("no longer holds")


def test_a_spike_that_later_data_disproves_is_resolved(alerts):
    """Issue 8 defect 10 (schools): suspensions reported late for earlier in the term raise the school's usual rate."""
    def counted(*starts: str) -> list:
        messages = [alerts.notice(notice(upn(f"33446510{n:04d}"), d, 2, urn="104119", la="334", pupil={**MAYA, "first_name": f"P{n}"}))
                    for n, d in starts]  # fmt: skip
        return [alerts.redelivered(m, i) for i, m in enumerate(alerts.school_suspensions(alerts.run(messages, NOW)))]

    window = counted(*enumerate(["2024-12-09", "2024-12-10", "2024-12-11", "2024-12-12", "2024-12-13"]))
    [spike] = alerts.run_school(window, NOW).changed_alerts
    late = counted(*((100 + i, f"2024-{9 + i // 7:02d}-{9 + (i % 7) * 3:02d}") for i in range(20)))
    [resolved] = alerts.run_school(late, LATER).changed_alerts
    assert (resolved.id, resolved.status, resolved.resolved_by) == (spike.id, AlertStatus.resolved, "signpost")
    assert [a.id for a in alerts.store.list_alerts({"school_urn": "104119"}, None, 10, None)[0]] == [spike.id]  # still the school's
