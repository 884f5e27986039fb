"""The committed JSON Schema and AsyncAPI files must match what the models generate."""

from __future__ import annotations

import json

import pytest
import yaml

from schemas import generate, topics

ROOT = generate.ROOT


def test_committed_docs_match_the_models() -> None:
    expected = generate.render()  # regenerated in memory; nothing is written
    differs = [
        rel
        for rel, text in expected.items()
        if not (ROOT / rel).is_file() or (ROOT / rel).read_text(encoding="utf-8") != text
    ]
    extra = [
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / generate.SCHEMA_DIR).glob("*.json")
        if p.relative_to(ROOT).as_posix() not in expected
    ]
    assert not differs + extra, (
        f"generated docs drifted from schemas/ ({differs + extra}): run `make schemas`"
    )


def test_every_public_payload_has_a_schema_with_id() -> None:
    names = {
        "ExclusionNotice", "Call", "LAReturn", "LAReturnRecord", "LAReturnRecordSubmitted", "Pupil", "Accepted",
        "Problem", "Alert", "AlertPage", "AlertChanged", "AcknowledgeRequest", "SnoozeRequest", "ChildEventResolved",
        "Referral", "ReferralPage", "ReferralChanged", "AcceptRequest", "DeclineRequest", "CloseRequest",
    }  # fmt: skip
    files = {rel: json.loads(text) for rel, text in generate.render().items() if rel.endswith(".json")}
    generated = {rel.rsplit("/", 1)[1].removesuffix(".json") for rel in files}
    assert names | {t.model.__name__ for t in topics.ALL_TOPICS} <= generated
    for rel, schema in files.items():
        name = rel.rsplit("/", 1)[1].removesuffix(".json")
        assert schema["$id"] == f"https://signpost.example/schemas/{name}.json"
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_json_schemas_are_valid_and_accept_a_real_payload() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    for rel, text in generate.render().items():
        if rel.endswith(".json"):
            jsonschema.Draft202012Validator.check_schema(json.loads(text))
    notice = {
        "notice_id": "N-1", "school_urn": "101676", "la_code": "305", "category": "suspension",
        "start_date": "2025-03-03", "sessions": 4, "reason_codes": ["DS"], "notified_at": "2025-03-03T09:00:00Z",
        "pupil": {"upn": "B801200005001", "first_name": "Zoë", "last_name": "Smith", "date_of_birth": "2014-05-01"},
    }  # fmt: skip
    schema = json.loads(generate.render()[f"{generate.SCHEMA_DIR}/ExclusionNotice.json"])
    jsonschema.Draft202012Validator(schema).validate(notice)


@pytest.fixture(scope="module")
def asyncapi() -> dict:
    return yaml.safe_load(generate.render()[generate.ASYNCAPI_PATH])


def test_asyncapi_declares_3_0_0_and_one_channel_per_topic(asyncapi: dict) -> None:
    assert asyncapi["asyncapi"] == "3.0.0"
    addresses = sorted(c["address"] for c in asyncapi["channels"].values())
    assert addresses == sorted(
        "{prefix}" + n for n in [*(t.name for t in topics.ALL_TOPICS), topics.DEAD_LETTERS]
    )
    for channel in asyncapi["channels"].values():
        assert channel["parameters"]["prefix"] == {"$ref": "#/components/parameters/prefix"}
    assert asyncapi["components"]["parameters"]["prefix"]["default"] == "signpost."


def test_asyncapi_message_ce_type_and_key_match_topics(asyncapi: dict) -> None:
    messages = asyncapi["components"]["messages"]
    for spec in topics.ALL_TOPICS:
        message = messages[spec.model.__name__]
        headers = message["headers"]["properties"]
        assert headers["ce_type"]["const"] == spec.ce_type
        assert headers["ce_specversion"]["const"] == topics.SPEC_VERSION
        assert headers["content-type"]["const"] == topics.CONTENT_TYPE
        assert "ce_subject" not in message["headers"]["required"]
        assert message["bindings"]["kafka"]["key"]["description"] == spec.key


def test_asyncapi_operations_name_sender_and_receivers(asyncapi: dict) -> None:
    topic_of = {f"#/channels/{cid}": c["title"] for cid, c in asyncapi["channels"].items()}
    ops = {
        (o["tags"][0]["name"], o["action"], topic_of[o["channel"]["$ref"]])
        for o in asyncapi["operations"].values()
    }
    for intake_topic in topics.INTAKE_TOPICS:
        assert {("intake", "send", intake_topic.name), ("alerts", "receive", intake_topic.name)} <= ops
    for name in (topics.CHILDREN.name, topics.ALERTS.name):
        assert {("alerts", "send", name), ("referrals", "receive", name)} <= ops
    assert ("referrals", "send", topics.REFERRALS.name) in ops
    assert all(
        any(op[1:] == ("send", t.name) for op in ops) for t in topics.ALL_TOPICS
    )  # every topic has a sender
    assert {s for s, a, t in ops if (a, t) == ("send", topics.DEAD_LETTERS)} == {"alerts", "referrals"}


def test_asyncapi_refs_resolve(asyncapi: dict) -> None:
    def refs(node):
        if isinstance(node, dict):
            if "$ref" in node:
                yield node["$ref"]
            for value in node.values():
                yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    for ref in set(refs(asyncapi)):
        node = asyncapi
        for part in ref.removeprefix("#/").split("/"):
            assert isinstance(node, dict) and part in node, f"dangling $ref {ref}"
            node = node[part]
