"""The referrals stage: alert changes, resolved child events and links in, one store transaction per batch.

`process` (in a worker thread) decodes each message once, into its schemas model (`decode`); a
message that can't be read (bad JSON, a payload its schema refuses) is a content error and
becomes a dead letter. The desk and the domain read the models' attributes. `commit`
then applies the batch through the desk in ONE transaction, dead letters into the outbox with it;
the StageRunner commits offsets only after that. A store error fails the batch: the runner replays
it from the committed offsets with backoff, so nothing is acknowledged before it is stored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import orjson
from pydantic import ValidationError

from schemas.alerts import AlertChanged
from schemas.children import ChildEventResolved, ChildLinkChanged
from schemas.topics import ALERTS, CHILD_LINKS, CHILDREN
from services.common.erasures import ErasureList
from services.common.messages import DeadLetter, Incoming, Outgoing
from services.common.stream_io import dead_letter_messages
from services.referrals import tables
from services.referrals.desk import DeskResult, ReferralDesk
from services.referrals.inputs import Message

log = logging.getLogger(__name__)
MODELS: dict[str, type[AlertChanged] | type[ChildEventResolved] | type[ChildLinkChanged]] = {
    ALERTS.name: AlertChanged, CHILDREN.name: ChildEventResolved, CHILD_LINKS.name: ChildLinkChanged,
}  # fmt: skip


@dataclass
class Batch:
    """What `process` hands to `commit`: the decoded items, the dead letters, and (after commit) the outcome."""

    items: list[Message]
    dead_letters: list[DeadLetter]
    now: datetime
    outcome: DeskResult | None = None


@dataclass
class StageResult:
    writes: Batch
    messages: list[Outgoing] = field(default_factory=list)  # nothing is produced directly: the outbox has it
    dead_letters: list[DeadLetter] = field(default_factory=list)


def decode(message: Incoming) -> Message:
    """A message as its topic's schemas model, decoded and validated once, here: the desk and the domain
    read its attributes. ValueError (orjson's JSONDecodeError, pydantic's ValidationError) for content
    errors. orjson parses, as before the models were kept: pydantic's own JSON parser would take the
    NaN and Infinity literals orjson refuses, and a message that was a dead letter would be routed."""
    return MODELS[message.topic].model_validate(orjson.loads(message.value))


class ReferralsStage:
    def __init__(self, desk: ReferralDesk, prefix: str, on_outcome: Callable[[DeskResult], None] | None = None) -> None:
        self.desk, self.prefix, self.on_outcome = desk, prefix, on_outcome
        self.erasures = ErasureList(desk.engine, tables.erasures)  # messages about erased children, read again, are skipped

    def process(self, messages: list[Incoming], now: datetime) -> StageResult:
        items: list[Message] = []
        dead: list[DeadLetter] = []
        self.erasures.refresh()
        for message in messages:
            if self.erasures.erased(message.key, message.ce_time):  # every topic here is keyed by the child's id
                continue
            try:
                items.append(decode(message))
            except (ValueError, ValidationError, KeyError, TypeError) as exc:  # orjson.JSONDecodeError is a ValueError
                dead.append(DeadLetter(message, f"invalid_payload:{type(exc).__name__}"))
                log.warning("undecodable message dead-lettered", extra={"topic": message.topic, "partition": message.partition, "offset": message.offset})
        return StageResult(Batch(items, dead, now))

    def commit(self, batch: Batch) -> None:
        """One transaction for the whole batch; raises (and so replays the batch) on any store error."""
        letters = dead_letter_messages(batch.dead_letters, "referrals", self.prefix) if batch.dead_letters else []
        batch.outcome = self.desk.handle(batch.items, batch.now, letters)

    def reset(self) -> None:
        """No caches: the store is the truth."""

    def on_committed(self, result: StageResult) -> None:
        if self.on_outcome is not None and result.writes.outcome is not None:
            self.on_outcome(result.writes.outcome)
