"""Rows of the alerts store and what one batch writes: alerts to rows and back, history rows, the
batch's `Writes`. Plain functions and data; the store (store.py) runs the SQL."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from schemas.alerts import (
    Alert,
    AlertStatus,
    ChildSubject,
    LASubject,
    Rule,
    SchoolSubject,
    Severity,
)
from schemas.pupil import names_key_of_parts
from services.alerts import tables as t
from services.alerts.domain import linking
from services.common.db import aware
from services.common.messages import Outgoing

CHUNK = 900  # stay under SQLite's bound-parameter limits, with room to spare


def chunks(items: Sequence, size: int = CHUNK) -> Iterable[Sequence]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def alert_from_row(row, la_codes: list[str] | None = None) -> Alert:  # noqa: ANN001 - a Row of alerts_alerts
    if row.subject_kind == "child":
        subject: ChildSubject | SchoolSubject | LASubject = ChildSubject(child_id=row.subject_id, upn=row.upn)
    elif row.subject_kind == "school":
        subject = SchoolSubject(school_urn=row.subject_id)
    else:
        subject = LASubject(la_code=row.subject_id)
    return Alert.model_construct(
        id=row.id,
        rule=Rule(row.rule),
        severity=Severity(row.severity),
        subject=subject,
        la_code=row.la_code,
        la_codes=la_codes if la_codes is not None else [row.la_code],
        academic_year=row.academic_year,
        term=row.term,
        value=row.value,
        threshold=row.threshold,
        evidence=json.loads(row.evidence),
        limit_reached=bool(row.limit_reached),
        projected_limit_date=row.projected_limit_date,
        due_on=getattr(row, "due_on", None),
        status=AlertStatus(row.status),
        status_note=row.status_note,
        snoozed_until=aware(row.snoozed_until),
        resolved_by=row.resolved_by,
        episode=row.episode,
        created_at=aware(row.created_at),
        updated_at=aware(row.updated_at),
        version=row.version,
    )


def alert_row(alert: Alert, school_urn: str | None) -> dict:
    subject = alert.subject
    return {
        "id": alert.id,
        "rule": str(alert.rule),
        "subject_kind": subject.kind,
        "subject_id": subject.id,
        "upn": getattr(subject, "upn", None),
        "school_urn": school_urn,
        "la_code": alert.la_code,
        "academic_year": alert.academic_year,
        "term": alert.term,
        "severity": str(alert.severity),
        "value": alert.value,
        "threshold": alert.threshold,
        "evidence": json.dumps(alert.evidence),
        "limit_reached": alert.limit_reached,
        "projected_limit_date": alert.projected_limit_date,
        "due_on": alert.due_on,
        "status": str(alert.status),
        "status_note": alert.status_note,
        "snoozed_until": alert.snoozed_until,
        "resolved_by": alert.resolved_by,
        "episode": alert.episode,
        "created_at": alert.created_at,
        "updated_at": alert.updated_at,
        "version": alert.version,
    }


def history_row(alert: Alert, change: str, by: str, note: str | None) -> dict:
    return {"alert_id": alert.id, "version": alert.version, "episode": alert.episode, "at": alert.updated_at, "by": by, "change": change,
            "status": str(alert.status), "severity": str(alert.severity), "value": alert.value, "note": note}  # fmt: skip


ALERT_COLUMNS = [c.name for c in t.alerts.columns if c.name != "id"]


@dataclass
class AlertWrite:
    alert: Alert
    school_urn: str | None
    base_version: int | None  # the version the writer read; None: a new alert
    las_changed: bool = True  # its LAs differ from the stored version's (most changes keep them: the LA rows stay)


def las_of(alert: Alert) -> set[str]:
    """Every LA an alert is about (its rows in alerts_alert_las, which scope who may read it)."""
    return {alert.la_code, *alert.la_codes}


@dataclass
class Writes:
    """Everything one batch changes, written in one transaction."""

    children: dict[str, tuple[dict, int | None]] = field(default_factory=dict)  # child_id -> (row, version read; None: new)
    aliases: list[dict] = field(default_factory=list)
    school_suspensions: list[dict] = field(default_factory=list)
    school_reports: list[dict] = field(default_factory=list)  # issue 11 (R-LA-ALL): services/alerts/school_reports.py
    alerts: dict[str, AlertWrite] = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    candidates: dict[str, dict] = field(default_factory=dict)  # id -> a whole row (new: inserted unless it exists)
    candidate_updates: dict[str, dict] = field(default_factory=dict)  # id -> columns to set
    audit: list[dict] = field(default_factory=list)
    outbox: list[Outgoing] = field(default_factory=list)

    def empty(self) -> bool:
        return not any(
            (self.children, self.aliases, self.school_suspensions, self.school_reports, self.alerts, self.history,
             self.candidates, self.candidate_updates, self.audit, self.outbox)
        )  # fmt: skip


def alias_row(alias: linking.Alias) -> dict:
    return {"child_id": alias.child_id, "person_key": alias.person_key, "la_code": alias.la_code, "date_of_birth": alias.date_of_birth,
            "first_norm": alias.first, "last_norm": alias.last, "upn": alias.upn,
            "names_key": names_key_of_parts(alias.date_of_birth, alias.first, alias.last)}  # fmt: skip


def alias_from_row(row) -> linking.Alias:  # noqa: ANN001
    return linking.Alias(row.child_id, row.person_key, row.la_code, row.date_of_birth, row.first_norm, row.last_norm, row.upn)
