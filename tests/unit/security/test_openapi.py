"""Each service's OpenAPI document is valid and honest (issue 12, item 9)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import TestTokens, build_settings
from openapi_spec_validator import validate

from services.alerts.app import build_app as alerts_app
from services.intake.app import build_app as intake_app
from services.referrals.app import build_app as referrals_app

BUILDERS = {"intake": intake_app, "alerts": alerts_app, "referrals": referrals_app}


@pytest.fixture(params=list(BUILDERS))
def document(request: pytest.FixtureRequest, tmp_path: Path, tokens: TestTokens) -> dict:
    return BUILDERS[request.param](build_settings(None, tmp_path), tokens).openapi()


def operations(document: dict) -> list[tuple[str, str, dict]]:
    return [(path, method, op) for path, ops in document["paths"].items() for method, op in ops.items()]


def test_the_document_validates(document: dict) -> None:
    validate(document)  # raises on any error: the alerts document had an OpenAPI 3.2 `itemSchema` in a 3.1.0 document


def test_every_v1_operation_needs_the_bearer_token(document: dict) -> None:
    assert document["components"]["securitySchemes"] == {"bearer": {"type": "http", "scheme": "bearer", "description": "a token from the tokens file (one per principal)"}}
    v1 = [(path, op) for path, _, op in operations(document) if path.startswith("/v1/")]
    assert v1 and all(op["security"] == [{"bearer": []}] and "401" in op["responses"] for _, op in v1)


def test_operation_ids_read_as_names(document: dict) -> None:
    ids = [op["operationId"] for _, _, op in operations(document)]
    assert len(ids) == len(set(ids))
    assert all(i.isidentifier() and "_v1_" not in i and not i.endswith(("_get", "_post")) for i in ids), ids


def test_every_error_is_problem_json_and_no_v1_answer_is_an_untyped_object(document: dict) -> None:
    for path, method, op in operations(document):
        for code, response in op["responses"].items():
            content = response.get("content", {})
            if int(code) >= 400:
                assert content == {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}, (path, method, code)
            elif path.startswith("/v1/") and "application/json" in content:
                schema = content["application/json"]["schema"]
                assert "$ref" in schema or schema.get("properties"), (path, method, code, schema)
    assert "HTTPValidationError" not in document["components"]["schemas"]
