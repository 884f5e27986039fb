"""An intake event as the child stage reads it: decoded once and checked, so applying it cannot fail on
its content; and what one batch gathers as it applies events (touched records, links, messages).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import date, datetime

import orjson

from schemas.intake import Consent
from schemas.pupil import normalise_name
from schemas.topics import (
    CALLS,
    EXCLUSION_CANCELLATIONS,
    EXCLUSION_NOTICES,
    LA_RETURN_RECORDS,
    SCHOOL_SUSPENSIONS,
)
from services.alerts import child_clocks, child_rules
from services.alerts.alerting import SOURCE
from services.alerts.domain import linking
from services.alerts.domain.profile import Source
from services.alerts.facts_codec import shared_code
from services.common.exclusions import facts as f
from services.common.exclusions import (
    grey_facts,
    proceedings,
)
from services.common.messages import Incoming, Outgoing, held_json, outgoing

log = logging.getLogger(__name__)
@dataclass(slots=True)
class Event:
    """An intake event, decoded and checked: applying it cannot fail on its content."""

    msg: Incoming
    sighting: linking.Sighting
    source: Source
    suspension: f.SuspensionFact | None
    incidents: list[f.IncidentFact]
    resolved: dict | None  # the ChildEventResolved fields, for calls and permanent exclusions
    grey: list[grey_facts.RecordFact | grey_facts.CancellationFact] = field(default_factory=list)  # issue 11: grey-exclusion facts
    steps: list[proceedings.Step] = field(default_factory=list)  # issue 11: proceedings (and permanent exclusions, provision records)


@dataclass
class Batch:
    now: datetime
    touched: set[str] = field(default_factory=set)  # records whose facts, profile or links changed
    links: list[tuple[linking.LinkChange, str | None]] = field(default_factory=list)  # (change, id of the decision behind it)
    proposals: dict[str, linking.Proposal] = field(default_factory=dict)
    child_events: list[tuple[Event, str]] = field(default_factory=list)
    school: list[Outgoing] = field(default_factory=list)
    school_headers: list[tuple[str, bytes]] = field(default_factory=list)

    def count_at_school(self, fact: f.SuspensionFact) -> None:
        """A SuspensionCounted for the school stage, for every report, a repeat included: the school
        stage counts each suspension once by its id, and re-sending on every replay is what keeps
        the school's count whole after a broker restart (these go straight to the broker, not
        through the outbox: a national replay makes a million of them). Built as bytes, with
        headers shared across the batch."""
        suspension_id = hashlib.sha256(fact.key.encode()).hexdigest()[:24]
        counted = held_json({"suspension_id": suspension_id, "event_id": fact.event_id, "school_urn": fact.school_urn,
                                "la_code": fact.la_code, "start_date": fact.start_date, "sessions": fact.sessions,
                                "via": "notice" if fact.event_id.startswith("notice:") else "return", "reported_at": fact.reported_at})  # fmt: skip
        if not self.school_headers:
            self.school_headers = outgoing(SCHOOL_SUSPENSIONS, "", "", b"", SOURCE, time=self.now.isoformat()).headers
        headers = self.school_headers.copy()
        headers[1] = ("ce_id", b"counted:" + suspension_id.encode())
        self.school.append(Outgoing(SCHOOL_SUSPENSIONS.name, fact.school_urn, counted, headers))


_SHARED_PUPIL_FIELDS = ("year_group", "sen_status", "sen_primary_need")


def _share(d: dict, keys: tuple[str, ...]) -> None:
    """The event's codes as shared strings (facts_codec.shared_code: ~300 bytes a cached child)."""
    for key in keys:
        if key in d:
            d[key] = shared_code(d[key])


def _share_codes(doc: dict) -> None:
    _share(doc, ("la_code", "school_urn"))
    record = doc.get("record")
    if type(record) is dict:
        _share(record, ("school_urn",))
    pupil = doc.get("pupil") or (record.get("pupil") if type(record) is dict else None)
    if type(pupil) is dict:
        _share(pupil, _SHARED_PUPIL_FIELDS)


def decode(msg: Incoming) -> Event:
    doc = orjson.loads(msg.value)
    if type(doc) is dict:  # anything else fails below, as malformed
        _share_codes(doc)
    if msg.topic == EXCLUSION_NOTICES.name:
        kind, la, pupil, urn, at, from_school = "notice", doc["la_code"], doc["pupil"], doc["school_urn"], doc["notified_at"], True
    elif msg.topic == CALLS.name:
        kind, la, pupil, urn, at, from_school = "call", doc["la_code"], doc["pupil"], doc.get("school_urn"), doc["received_at"], False
    elif msg.topic == LA_RETURN_RECORDS.name:
        record = doc["record"]
        kind, la, pupil, urn, at, from_school = "record", doc["la_code"], record["pupil"], record["school_urn"], doc["submitted_at"], True
    elif msg.topic == EXCLUSION_CANCELLATIONS.name:
        kind, la, pupil, urn, at, from_school = "cancellation", doc["la_code"], doc["pupil"], doc["school_urn"], doc["cancelled_at"], True
    elif msg.topic in child_clocks.KIND_OF_TOPIC:  # issue 11: a step after an exclusion
        step = child_clocks.step_of(msg.topic, msg.event_id, doc)
        kind, la, pupil, urn, at, from_school = "step", doc["la_code"], doc["pupil"], doc["school_urn"], child_clocks.event_time(step.kind, doc), True
    else:
        raise ValueError(f"unexpected topic {msg.topic}")
    sighting = linking.Sighting(msg.event_id, pupil.get("upn"), la, date.fromisoformat(pupil["date_of_birth"]),
                                normalise_name(pupil["first_name"]), normalise_name(pupil["last_name"]))  # fmt: skip
    source = Source(f.utc_iso(at), msg.event_id, la, urn, from_school, pupil)
    suspension, incidents, resolved = None, [], None
    if kind == "step":
        return Event(msg, sighting, source, None, [], None, steps=[step])
    if kind == "notice":
        suspension = f.suspension_from_notice(msg.event_id, doc)
        if doc["category"] == "permanent":
            resolved = {"source": "exclusion_notice", "source_id": doc["notice_id"], "category": "permanent"}
    elif kind == "cancellation":
        pass  # its only fact is issue 11's (below)
    elif kind == "call":
        incidents = f.incidents_from_call(msg.event_id, doc)
        resolved = {"source": "call", "source_id": doc["call_id"], "concerns": doc["concerns"], "received_by": doc["received_by"],
                    "consent": Consent(**doc.get("consent") or {})}  # fmt: skip
    else:
        suspension = f.suspension_from_return(msg.event_id, doc)
        incident = f.incident_from_return(msg.event_id, doc)
        incidents = [incident] if incident else []
        if doc["record"]["kind"] == "permanent_exclusion":
            resolved = {"source": "la_return_record", "source_id": f"{doc['return_id']}|{doc['record']['record_id']}", "record_kind": "permanent_exclusion"}
    if resolved is not None:
        resolved["occurred_at"] = at
    follows = proceedings.from_notice(msg.event_id, doc) if kind == "notice" else proceedings.from_return(msg.event_id, doc) if kind == "record" else None
    return Event(msg, sighting, source, suspension, incidents, resolved, grey=child_rules.facts_of(msg.topic, msg.event_id, doc),
                  steps=[follows] if follows else [])
