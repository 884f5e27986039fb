"""Issue 11 (items 1-3): the intake endpoints of what follows an exclusion, against a real broker.
Each is idempotent by its own id, all or nothing, answers problem+json, and publishes one CloudEvent
keyed by the child on its own topic."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from conftest import consume_all, count_messages, running_app, wait_relayed
from factories import PROCEEDINGS_DEFAULTS, make_proceeding

from schemas.pupil import Pupil, child_key
from services.intake.app import build_app
from services.intake.proceedings import KINDS

pytestmark = pytest.mark.integration
BY_PATH = {k.path.lstrip("/"): k for k in KINDS}


@pytest_asyncio.fixture
async def intake(settings, tokens) -> AsyncIterator:
    app = build_app(settings, tokens)
    async with running_app(app) as client:
        yield app, client


def id_field(endpoint: str) -> str:
    return next(k for k in PROCEEDINGS_DEFAULTS[endpoint] if k.endswith("_id"))


@pytest.mark.parametrize("endpoint", sorted(BY_PATH))
async def test_accepted_once_published_keyed_by_the_child_and_a_changed_body_is_a_conflict(endpoint, intake, settings, tokens) -> None:
    app, client = intake
    kind, body = BY_PATH[endpoint], make_proceeding(endpoint)
    first = await client.post(f"/v1/{endpoint}", json=body, headers=tokens.headers("intake"))
    assert first.status_code == 202, first.text
    assert first.json() == {"id": body[id_field(endpoint)], "status": "accepted"}
    again = await client.post(f"/v1/{endpoint}", content=json.dumps(dict(reversed(list(body.items())))),
                              headers={**tokens.headers("intake"), "content-type": "application/json"})  # fmt: skip
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    changed = {**body, "notes": "another body under the same id"}
    conflict = await client.post(f"/v1/{endpoint}", json=changed, headers=tokens.headers("intake"))
    assert conflict.status_code == 409 and conflict.headers["content-type"].startswith("application/problem+json")
    await wait_relayed(app)
    await asyncio.sleep(0.2)
    [msg] = await consume_all(settings, kind.topic.name, expected=1, timeout=10)
    assert msg.headers["ce_id"] == f"{kind.prefix}:{body[id_field(endpoint)]}"
    assert msg.headers["ce_type"] == kind.topic.ce_type
    assert msg.key == child_key(body["la_code"], Pupil(**body["pupil"]))
    assert kind.model.model_validate_json(msg.value) == kind.model.model_validate(body)
    assert await count_messages(settings, kind.topic.name) == 1


@pytest.mark.parametrize(
    ("endpoint", "change", "loc"),
    [
        ("governing-board-decisions", {"outcome": "maybe"}, ["outcome"]),
        ("governing-board-decisions", {"decided_on": "2025-03-20", "parent_notified_on": "2025-03-19"}, []),
        ("parent-representations", {"received_on": "2024-01-01"}, []),
        ("irp-applications", {"method": "pigeon"}, ["method"]),
        ("irp-decisions", {"outcome": "quashed"}, ["outcome"]),
        ("education-provisions", {"start_date": "2025-03-20", "end_date": "2025-03-19"}, []),
        ("education-provisions", {"arranged_by": "parent"}, ["arranged_by"]),
    ],
)
async def test_invalid_bodies_are_422_problems_naming_the_field_and_publish_nothing(endpoint, change, loc, intake, settings, tokens) -> None:
    app, client = intake
    body = {**make_proceeding(endpoint), **change}
    response = await client.post(f"/v1/{endpoint}", json=body, headers=tokens.headers("intake"))
    assert response.status_code == 422 and response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert any(e["loc"][: len(loc)] == loc for e in problem["errors"]), problem
    assert body["pupil"]["last_name"] not in response.text  # no personal data echoed
    await wait_relayed(app)
    assert await count_messages(settings, BY_PATH[endpoint].topic.name) == 0


async def test_a_upn_is_required_and_roles_and_las_are_checked(intake, tokens) -> None:
    app, client = intake
    body = make_proceeding("education-provisions")
    no_upn = {**body, "pupil": {k: v for k, v in body["pupil"].items() if k != "upn"}}
    assert (await client.post("/v1/education-provisions", json=no_upn, headers=tokens.headers("intake"))).status_code == 422
    assert (await client.post("/v1/education-provisions", json=body)).status_code == 401
    assert (await client.post("/v1/education-provisions", json=body, headers=tokens.headers("inclusion_team"))).status_code == 403
    elsewhere = make_proceeding("irp-decisions", la_code="334")
    assert (await client.post("/v1/irp-decisions", json=elsewhere, headers=tokens.headers("intake_305"))).status_code == 403
