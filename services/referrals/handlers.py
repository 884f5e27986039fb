"""What follows a committed change, wherever it came from (the stage, an agency's action, a consent
recorded over HTTP): count it, and wake the relay to publish the outbox row it wrote. And the body
of a webhook delivery: the referral as the receiving agency may see it, audited as a read."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from services.common.auth import Principal
from services.common.relay import Relay
from services.referrals.desk import DeskResult
from services.referrals.metrics import HELD, REFERRAL_CHANGES
from services.referrals.store import ReferralRecord, ReferralStore
from services.referrals.views import Viewer

log = logging.getLogger(__name__)


class Handlers:
    def __init__(self, store: ReferralStore, relay: Relay, viewer: Viewer, clock: Callable[[], datetime]) -> None:
        self.store, self.relay, self.viewer, self.clock = store, relay, viewer, clock

    def desk_outcome(self, result: DeskResult) -> None:
        """A batch (or a consent) applied by the desk, committed with its outbox rows."""
        for c in result.changes:
            REFERRAL_CHANGES.labels(c.agency, c.change).inc()
        for agency in result.held:
            HELD.labels(agency).inc()
        if result.messages:
            self.relay.notify()

    async def referral_changed(self, record: ReferralRecord, action: str) -> None:
        """An agency accepted, declined or closed a referral (already committed with its outbox row)."""
        REFERRAL_CHANGES.labels(record.row["agency"], action).inc()
        self.relay.notify()

    def render(self, ref_id: str, agency: str) -> bytes:
        """The webhook body for one delivery: the agency's projected view of the referral."""
        record = self.store.get(ref_id)
        if record is None:  # a delivery row outlived its referral (an erasure): nothing to send
            raise LookupError("the referral of this delivery no longer exists")
        principal = Principal(name="webhook", roles=frozenset({"agency"}), agency=agency)
        # a delivery discloses the child's data to the agency: audited like a read (issue 12)
        self.store.write_audit([{"at": self.clock(), "principal": f"webhook:{agency}", "action": "deliver_referral", "object_kind": "referral",
                                 "object_id": ref_id, "child_id": record.row["child_id"], "detail": None}])
        return self.viewer(record, principal).model_dump_json(exclude_none=True).encode()
