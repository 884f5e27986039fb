"""consumer.decode: each message is decoded once, at the edge, into its topic's schemas model."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from schemas.alerts import Alert, AlertChanged, ChildSubject
from schemas.children import ChildEventResolved, ChildProfile
from schemas.topics import ALERTS, CHILDREN
from services.common.messages import Incoming
from services.referrals.consumer import decode

NOW = datetime(2025, 3, 6, 10, 0, tzinfo=UTC)
KID = ChildProfile(child_id="ch-1", la_code="305", first_name="Zoë", last_name="Smith", date_of_birth=date(2014, 5, 1))


def message(topic: str, value: bytes) -> Incoming:
    return Incoming(topic, 0, 0, b"ch-1", value, "id-1", "t", "2025-03-06T10:00:00Z")


def changed() -> AlertChanged:
    alert = Alert(id="al-1", rule="informal_exclusions_repeated", severity="high", subject=ChildSubject(child_id="ch-1"), la_code="305",
                  academic_year="2024/25", value=3, threshold=3, created_at=NOW, updated_at=NOW)
    return AlertChanged(alert=alert, change="raised", child=KID)


def test_an_alert_message_is_its_model_with_typed_fields():
    item = decode(message(ALERTS.name, changed().model_dump_json().encode()))
    assert isinstance(item, AlertChanged) and item == changed()
    assert item.alert.updated_at == NOW and item.child is not None and item.child.date_of_birth == date(2014, 5, 1)


def test_a_child_event_message_is_its_model():
    event = ChildEventResolved(event_id="ev-1", source="exclusion_notice", source_id="N-1", occurred_at=NOW, child=KID, category="permanent")
    assert decode(message(CHILDREN.name, event.model_dump_json().encode())) == event


NOT_A_NUMBER = changed().model_dump_json().replace('"value":3.0', '"value":NaN').encode()


@pytest.mark.parametrize("value", [b"{not json", NOT_A_NUMBER], ids=["not-json", "nan"])
def test_unreadable_json_is_a_content_error(value):
    """orjson parses, as before: NaN (which pydantic's own JSON parser would take) is still refused."""
    assert value == b"{not json" or b'"value":NaN' in value
    with pytest.raises(ValueError):
        decode(message(ALERTS.name, value))


def test_a_payload_its_schema_refuses_is_a_content_error():
    with pytest.raises(ValidationError):
        decode(message(CHILDREN.name, changed().model_dump_json().encode()))
