"""The alerts service's part of a subject-access export, and who saw the child (issue 12, items 4 and 6)."""

from __future__ import annotations

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
