"""Alert lifecycle: one alert per (rule, subject, academic year, term), updated as evidence grows.

open → acknowledged | snoozed (until a time, then open again) | resolved. New evidence
that raises the severity re-opens an acknowledged, snoozed or resolved alert: the team
must see that things got worse. Other updates keep the status the team gave it.
"""

from __future__ import annotations

from datetime import datetime

from schemas.alerts import Alert, AlertStatus, ChildSubject, LASubject, SchoolSubject
from services.alerts.domain.findings import SEVERITY_RANK, Finding


def _subject(finding: Finding, upn: str | None) -> ChildSubject | SchoolSubject | LASubject:
    if finding.subject_kind == "child":
        return ChildSubject(child_id=finding.subject_id, upn=upn)
    if finding.subject_kind == "school":
        return SchoolSubject(school_urn=finding.subject_id)
    return LASubject(la_code=finding.subject_id)


def apply_finding(existing: Alert | None, finding: Finding, *, upn: str | None, now: datetime) -> Alert | None:
    """The alert after this finding, or None when nothing changed."""
    if existing is None:
        return Alert(
            id=finding.alert_id,
            rule=finding.rule,
            severity=finding.severity,
            subject=_subject(finding, upn),
            la_code=finding.la_code,
            academic_year=finding.academic_year,
            term=finding.term,
            value=finding.value,
            threshold=finding.threshold,
            evidence=list(finding.evidence),
            status=AlertStatus.open,
            created_at=now,
            updated_at=now,
            version=1,
        )
    same = (
        existing.severity == finding.severity
        and abs(existing.value - finding.value) < 1e-9
        and abs(existing.threshold - finding.threshold) < 1e-9
        and existing.evidence == list(finding.evidence)
        and (finding.subject_kind != "child" or existing.subject.upn == upn)  # type: ignore[union-attr]
    )
    if same:
        return None
    worse = SEVERITY_RANK[finding.severity] > SEVERITY_RANK[existing.severity]
    changes: dict = {
        "severity": finding.severity,
        "value": finding.value,
        "threshold": finding.threshold,
        "evidence": list(finding.evidence),
        "subject": _subject(finding, upn),
        "updated_at": now,
        "version": existing.version + 1,
    }
    if worse and existing.status != AlertStatus.open:
        changes.update(status=AlertStatus.open, snoozed_until=None, status_note=f"re-opened: severity rose to {finding.severity}")
    return existing.model_copy(update=changes)


class TransitionError(ValueError):
    pass


def acknowledge(alert: Alert, note: str | None, now: datetime) -> Alert:
    if alert.status == AlertStatus.resolved:
        raise TransitionError("a resolved alert can't be acknowledged")
    return alert.model_copy(update={"status": AlertStatus.acknowledged, "status_note": note, "snoozed_until": None, "updated_at": now, "version": alert.version + 1})


def snooze(alert: Alert, until: datetime, reason: str, now: datetime) -> Alert:
    if until <= now:
        raise TransitionError("snooze until a time in the future")
    if alert.status == AlertStatus.resolved:
        raise TransitionError("a resolved alert can't be snoozed")
    return alert.model_copy(update={"status": AlertStatus.snoozed, "status_note": reason, "snoozed_until": until, "updated_at": now, "version": alert.version + 1})


def resolve(alert: Alert, note: str | None, now: datetime) -> Alert:
    return alert.model_copy(update={"status": AlertStatus.resolved, "status_note": note, "snoozed_until": None, "updated_at": now, "version": alert.version + 1})


def wake(alert: Alert, now: datetime) -> Alert | None:
    """A snoozed alert whose time has come is open again."""
    if alert.status != AlertStatus.snoozed or alert.snoozed_until is None or alert.snoozed_until > now:
        return None
    return alert.model_copy(update={"status": AlertStatus.open, "status_note": "snooze expired", "snoozed_until": None, "updated_at": now, "version": alert.version + 1})
