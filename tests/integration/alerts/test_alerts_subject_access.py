"""The alerts service's part of a subject-access export, and who saw the child (issue 12, items 4 and 6)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import httpx
from conftest import TestTokens, build_settings

from schemas.pupil import upn_key
from services.alerts import subject_access
from services.alerts.app import build_app
from services.alerts.domain.linking import child_id_for_upn

from .test_alerts_child_stage import NOW, P1_UPN, p1_notice


def test_the_export_holds_the_child_its_alerts_with_history_and_its_intake_keys(alerts) -> None:  # noqa: ANN001
    for i in range(3):
        alerts.run([alerts.notice(p1_notice(i))], NOW)
    cid = child_id_for_upn(P1_UPN)
    parts, keys = subject_access.export(alerts.engine, cid)
    assert [c["child_id"] for c in parts["children"]] == [cid]
    assert parts["children"][0]["profile"]["last_name"] == "Okafor"
    assert parts["alerts"] and all(a["subject_id"] == cid for a in parts["alerts"])
    assert {h["alert_id"] for h in parts["alert_history"]} == {a["id"] for a in parts["alerts"]}
    assert upn_key(P1_UPN) in keys
    assert subject_access.export(alerts.engine, "ch_nobody")[0]["alerts"] == []


async def test_the_export_endpoint_is_admin_only_audited_and_shows_in_who_saw_the_child(alerts, tmp_path, tokens: TestTokens) -> None:  # noqa: ANN001
    alerts.run([alerts.notice(p1_notice(0))], NOW)
    cid = child_id_for_upn(P1_UPN)
    app = build_app(build_settings(None, tmp_path, database_url=str(alerts.engine.url.render_as_string(hide_password=False))), tokens)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        refused = await client.get(f"/v1/admin/children/{cid}/export", headers=tokens.headers("inclusion_team"))
        got = await client.get(f"/v1/admin/children/{cid}/export", headers=tokens.headers("admin") | {"X-Signpost-Purpose": "SAR 2025-03"})
        seen = await client.get(f"/v1/admin/children/{cid}/readers", headers=tokens.headers("admin"))
    assert refused.status_code == 403
    assert got.status_code == 200 and got.json()["parts"]["children"][0]["child_id"] == cid
    assert [(r["principal"], r["actions"]) for r in seen.json()["items"]] == [("test-admin", ["export_child"])]
    audit = alerts.store.audit_entries(cid, 10)
    assert {(e["action"], e["detail"]) for e in audit} >= {("export_child", "SAR 2025-03"), ("read_audit", None)}


async def test_erasure_deletes_everything_about_the_child_and_is_audited_with_its_reason(alerts, tmp_path, tokens: TestTokens) -> None:  # noqa: ANN001
    for i in range(3):
        alerts.run([alerts.notice(p1_notice(i))], NOW)
    cid = child_id_for_upn(P1_UPN)
    app = build_app(build_settings(None, tmp_path, database_url=str(alerts.engine.url.render_as_string(hide_password=False))), tokens)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        unreasoned = await client.post(f"/v1/admin/children/{cid}/erase", json={}, headers=tokens.headers("admin"))
        erased = await client.post(f"/v1/admin/children/{cid}/erase", json={"reason": "recorded in error, ticket 7"}, headers=tokens.headers("admin"))
    assert unreasoned.status_code == 422
    assert erased.status_code == 200, erased.text
    deleted = erased.json()["deleted"]
    assert deleted["children"] == 1 and deleted["alerts"] >= 1 and deleted["alert_history"] >= deleted["alerts"]
    parts, _ = subject_access.export(alerts.engine, cid)
    assert {name: rows for name, rows in parts.items() if rows and name != "audit"} == {}
    assert [(e["action"], e["detail"]) for e in parts["audit"]] == [("erase_child", "recorded in error, ticket 7")]


def test_an_erased_child_stays_erased_when_its_old_events_are_read_again(alerts) -> None:  # noqa: ANN001
    """The intake topics keep a child's events until they expire: a rebuild, or a stage reading a
    restarted broker from the start, must not derive the erased child again. A later event with the
    same UPN is news (the UPN may now be right) and is applied."""
    old = [alerts.notice(p1_notice(i)) for i in range(3)]
    old = [dataclasses.replace(m, ce_time="2025-03-10T09:00:00Z") for m in old]
    alerts.run(old, NOW)
    cid = child_id_for_upn(P1_UPN)
    subject_access.erase(alerts.engine, cid)
    alerts.child.erasures.due()  # what the erase endpoint tells the stage in its process

    again = alerts.run(old, NOW)  # read again, as a rebuild would
    assert again.changed_alerts == [] and alerts.store.children([cid]) == {}
    assert subject_access.export(alerts.engine, cid)[0]["alerts"] == []

    later = dataclasses.replace(alerts.notice(p1_notice(3)), ce_time=datetime.now(UTC).isoformat())
    alerts.run([later], NOW)
    assert list(alerts.store.children([cid])) == [cid]
