"""Facts: what an intake event tells the detectors, in plain data.

Every fact has a natural key, so the same fact arriving twice (a redelivery, a replay, or
the school's notice and later the LA's return of the same suspension) counts once. A
suspension's key is UPN + school + start date: a report of the same suspension with other
sessions is a correction, and the latest report (by the time it was reported, not by when
it arrived) is the one that counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from schemas.codes import INFORMAL_CONCERNS, NoticeCategory
from schemas.intake import suspension_sessions

LONDON = ZoneInfo("Europe/London")


@dataclass(frozen=True, slots=True)
class SuspensionFact:
    """A suspension (or lunchtime suspension) of one child at one school."""

    key: str  # UPN + school + start date: the same suspension (its sessions may be corrected)
    event_id: str
    upn: str
    school_urn: str
    la_code: str
    start_date: date
    sessions: int  # half days; a lunchtime counts as one session
    reported_at: str = ""  # when the school or LA reported it (UTC, ISO): the latest report counts

    @property
    def days(self) -> float:
        return self.sessions / 2


@dataclass(frozen=True, slots=True)
class IncidentFact:
    """An informal (unlawful) exclusion on one day: a call's incident date, or a sent_home return record."""

    day: date
    event_id: str
    school_urn: str | None
    la_code: str


def suspension_key(upn: str, school_urn: str, start: date) -> str:
    return f"{upn}|{school_urn}|{start.isoformat()}"


@lru_cache(maxsize=16)  # an event's timestamp is read for its source and again for its fact
def utc_iso(timestamp: str) -> str:
    """One comparable form for the timestamps events carry."""
    if len(timestamp) in (20, 25) and timestamp[10] == "T" and timestamp.endswith(_WHOLE_UTC_SECONDS[len(timestamp)]):
        datetime.fromisoformat(timestamp[:19])  # still checked; the usual form needs no conversion (a million a year)
        return timestamp[:19] + ".000000+00:00"
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).astimezone(UTC).isoformat(timespec="microseconds")


_WHOLE_UTC_SECONDS = {20: "Z", 25: "+00:00"}  # "2025-03-03T09:00:00Z", "2025-03-03T09:00:00+00:00"


def suspension_from_notice(event_id: str, notice: dict[str, Any]) -> SuspensionFact | None:
    """From an ExclusionNotice (as JSON): suspensions and lunchtimes; a permanent exclusion is not one."""
    category = notice["category"]
    if category not in (NoticeCategory.suspension, NoticeCategory.lunchtime):
        return None
    sessions = suspension_sessions(category, notice.get("sessions"), notice.get("lunchtimes"))
    upn = notice["pupil"]["upn"]
    start = date.fromisoformat(notice["start_date"])
    return SuspensionFact(
        suspension_key(upn, notice["school_urn"], start), event_id, upn, notice["school_urn"], notice["la_code"], start, sessions,
        utc_iso(notice["notified_at"]),
    )


def suspension_from_return(event_id: str, submitted: dict[str, Any]) -> SuspensionFact | None:
    record = submitted["record"]
    if record["kind"] != "suspension":
        return None
    upn = record["pupil"]["upn"]
    start = date.fromisoformat(record["start_date"])
    sessions = int(record["sessions"])
    return SuspensionFact(
        suspension_key(upn, record["school_urn"], start), event_id, upn, record["school_urn"], submitted["la_code"], start, sessions,
        utc_iso(submitted["submitted_at"]),
    )


def incidents_from_call(event_id: str, call: dict[str, Any]) -> list[IncidentFact]:
    """A call reporting a child sent home informally (or off-rolled): one incident per incident date,
    or the call's own date when the caller gave none."""
    if not INFORMAL_CONCERNS.intersection(call["concerns"]):
        return []
    days = [date.fromisoformat(d) for d in call.get("incident_dates") or ()]
    if not days:  # the caller's "today" is a UK date
        days = [datetime.fromisoformat(call["received_at"].replace("Z", "+00:00")).astimezone(LONDON).date()]
    return [IncidentFact(d, event_id, call.get("school_urn"), call["la_code"]) for d in days]


def incident_from_return(event_id: str, submitted: dict[str, Any]) -> IncidentFact | None:
    record = submitted["record"]
    if record["kind"] != "sent_home":
        return None
    return IncidentFact(date.fromisoformat(record["start_date"]), event_id, record["school_urn"], submitted["la_code"])
