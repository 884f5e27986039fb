"""The referrals service's data-protection endpoints (services/common/privacy_routes.py), with the app
running: each call is audited in the referrals' own audit log, which `build_app` hands the router."""

from __future__ import annotations

import uuid

import pytest

from .test_api import Api, api  # noqa: F401 - the running app, as the API tests have it

pytestmark = pytest.mark.integration


async def test_export_readers_and_erasure_are_audited_in_the_referrals_audit_log(api: Api) -> None:  # noqa: F811
    cid = f"ch_privacy_{uuid.uuid4().hex[:8]}"
    refused = await api.request("inclusion_team", "GET", f"/v1/admin/children/{cid}/export")
    assert refused.status_code == 403
    got = await api.client.get(f"/v1/admin/children/{cid}/export", headers=api.tokens.headers("admin") | {"X-Signpost-Purpose": "SAR 2025-03"})
    assert got.status_code == 200, got.text
    assert (got.json()["service"], got.json()["keys"]) == ("referrals", [])
    seen = await api.request("admin", "GET", f"/v1/admin/children/{cid}/readers")
    assert [(r["principal"], r["actions"]) for r in seen.json()["items"]] == [("test-admin", ["export_child"])]
    erased = await api.request("admin", "POST", f"/v1/admin/children/{cid}/erase", json={"reason": "recorded in error, ticket 1"})
    assert erased.status_code == 200, erased.text
    audit = {(e["action"], e["detail"]) for e in api.store().audit_entries(cid, 100)}
    assert audit >= {("export_child", "SAR 2025-03"), ("read_audit", None), ("erase_child", "recorded in error, ticket 1")}
