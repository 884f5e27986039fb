"""school_stage.decode: a SuspensionCounted read once, without validation (a hot path), content errors still refused."""

from __future__ import annotations

from datetime import date

import orjson
import pytest

from schemas.alerts import SuspensionCounted
from services.alerts.school_stage import decode

COUNTED = {"suspension_id": "s1", "event_id": "notice:N-1", "school_urn": "101676", "la_code": "305", "start_date": "2025-03-03",
           "sessions": 2, "via": "notice", "reported_at": "2025-03-04T09:00:00Z"}


def test_a_message_is_its_schemas_model_with_a_date():
    counted = decode(orjson.dumps(COUNTED))
    assert isinstance(counted, SuspensionCounted)
    assert counted == SuspensionCounted.model_validate(COUNTED)
    assert counted.start_date == date(2025, 3, 3)


def test_what_the_stage_never_refused_is_still_read():
    """A message from before issue 11 has no via or reported_at."""
    counted = decode(orjson.dumps({k: v for k, v in COUNTED.items() if k not in ("via", "reported_at")}))
    assert (counted.via, counted.reported_at) == (None, None)


@pytest.mark.parametrize("value", [b"not json", orjson.dumps({**COUNTED, "start_date": "03/03/2025"}), orjson.dumps([1]),
                                   orjson.dumps({k: v for k, v in COUNTED.items() if k != "suspension_id"})])
def test_content_errors_are_refused(value):
    with pytest.raises((ValueError, KeyError, TypeError)):
        decode(value)
