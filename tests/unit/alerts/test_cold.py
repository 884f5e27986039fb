"""Cold copies (services/alerts/cold.py): deflated with a preset dictionary, thawed to the same bytes."""

from __future__ import annotations

import os
import zlib

import pytest

from services.alerts import cold

ALERT = (b'{"id":"al_9f8e7d6c5b4a39281706","rule":"suspensions_in_term","severity":"warning","subject":{"kind":"child",'
         b'"child_id":"ch_ffeeddccbbaa9988","upn":"Z987654321098"},"la_code":"926","la_codes":["926","940"],"academic_year":"2024/25",'
         b'"term":"Spring","value":3.0,"threshold":3.0,"evidence":["notice:N-100001-7","notice:N-100001-9","return:R-926-2|r4"],'
         b'"limit_reached":false,"projected_limit_date":null,"due_on":null,"status":"acknowledged","status_note":"seen by REU",'
         b'"snoozed_until":null,"resolved_by":null,"episode":2,"created_at":"2025-01-14T09:30:00Z","updated_at":"2025-02-03T10:00:00Z","version":4}')  # fmt: skip


@pytest.mark.parametrize("raw", [ALERT, b"", os.urandom(3000), "é\x1e☃ not like the dictionary at all".encode() * 40])
@pytest.mark.parametrize("zdict", [cold.ALERT_DICT, cold.RECORD_DICT])
def test_whatever_is_frozen_thaws_to_the_same_bytes(raw: bytes, zdict: bytes) -> None:
    assert cold.inflate(cold.deflate(raw, zdict), zdict) == raw


def test_the_dictionary_packs_a_typical_alert_far_smaller() -> None:
    plain = zlib.compress(ALERT, 1, -12)  # what freezing was before the dictionary
    assert len(cold.deflate(ALERT, cold.ALERT_DICT)) < 0.6 * len(plain)

