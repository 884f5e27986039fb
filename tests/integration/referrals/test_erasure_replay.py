"""An erased child stays erased when the referrals stage reads its old messages again (issue 12):
alerts.v1 keeps them until they expire, and a rebuild of the referrals store replays it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from schemas.alerts import AlertChanged
from schemas.topics import ALERTS
from services.common.calendar import load_registry
from services.common.messages import Incoming
from services.referrals import subject_access
from services.referrals.consumer import ReferralsStage
from services.referrals.desk import ReferralDesk
from services.referrals.policy import load_policy

from .builders import SEND, alert, profile, referrals_of

pytestmark = pytest.mark.integration


def message(item: AlertChanged, offset: int, ce_time: str) -> Incoming:
    child_id = item.alert.subject.id
    return Incoming(ALERTS.name, 0, offset, child_id.encode(), item.model_dump_json().encode(), f"{item.alert.id}:v1", ALERTS.ce_type, ce_time)


def run(stage: ReferralsStage, messages: list[Incoming]) -> None:
    result = stage.process(messages, datetime.now(UTC))
    stage.commit(result.writes)


def test_an_erased_childs_old_alert_messages_open_no_referral_and_a_later_one_does(engine: Engine) -> None:
    stage = ReferralsStage(ReferralDesk(engine, lambda: load_policy(), load_registry()), "")
    kid = profile(**SEND)
    old = message(alert(kid, "suspension_days_nearing_limit", severity="high"), 0, "2025-03-10T09:00:00Z")
    run(stage, [old])
    assert referrals_of(engine, kid["child_id"])

    subject_access.erase(engine, kid["child_id"])
    stage.erasures.due()
    run(stage, [old])  # read again, as a rebuild would
    assert referrals_of(engine, kid["child_id"]) == {}

    later = message(alert(kid, "suspension_days_limit_exceeded", severity="critical"), 1, datetime.now(UTC).isoformat())
    run(stage, [later])
    assert referrals_of(engine, kid["child_id"])
