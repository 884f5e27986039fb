"""Alert lifecycle: one alert per (rule, subject, academic year, term), updated as evidence grows.

open → acknowledged | snoozed (until a time, then open again) | resolved. The semantics follow
Alertmanager and PagerDuty where they fit (docs/design.md, "Alert episodes"):

- New evidence is new harm. A finding with evidence the alert did not have (a further
  suspension, a new incident, another call), whose value did not fall, puts an acknowledged or
  snoozed alert back to `open` (PagerDuty: a new trigger re-opens an acknowledged incident).
- On an alert a person resolved, new evidence opens the next `episode`: same id, history kept,
  routed again (Alertmanager: a resolved alert that fires again is a new notification).
- An alert Signpost resolved because it no longer held (a correction, a link between two
  records) comes back in the same episode when it holds again: nobody decided anything.
- A rise in severity re-opens, as before. Anything else (details, a correction lowering the
  value) updates the alert and keeps the status the team gave it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schemas.alerts import Alert, AlertStatus, ChildSubject, LASubject, SchoolSubject
from services.common.exclusions.findings import SEVERITY_RANK, Finding

SIGNPOST = "signpost"  # `by` of the stream's own changes


@dataclass(frozen=True, slots=True)
class Change:
    """An alert after one change, and what kind of change it was (AlertChanged.change)."""

    alert: Alert
    kind: str  # raised | evidence | updated | status
    note: str | None = None


def _subject(finding: Finding, upn: str | None) -> ChildSubject | SchoolSubject | LASubject:
    if finding.subject_kind == "child":
        return ChildSubject(child_id=finding.subject_id, upn=upn)
    if finding.subject_kind == "school":
        return SchoolSubject(school_urn=finding.subject_id)
    return LASubject(la_code=finding.subject_id)


def _la_codes(finding: Finding) -> list[str]:
    return sorted({finding.la_code, *finding.la_codes})


def _same(existing: Alert, finding: Finding, evidence: list[str], la_codes: list[str], upn: str | None) -> bool:
    """Whether the finding would change none of the alert's fields (the subject compared last: it is a model)."""
    return (
        existing.value == finding.value
        and existing.severity == finding.severity
        and existing.threshold == finding.threshold
        and existing.evidence == evidence
        and existing.la_code == finding.la_code
        and existing.la_codes == la_codes
        and existing.limit_reached == finding.limit_reached
        and existing.projected_limit_date == finding.projected_limit_date
        and existing.due_on == finding.due_on
        and existing.subject == _subject(finding, upn)
    )


def new_evidence(existing: Alert, finding: Finding) -> bool:
    """More harm (a further suspension adds days), or evidence the alert did not cite without less harm
    (a second wave of informal exclusions, another call). A downward correction is not new harm."""
    more = finding.value > existing.value + 1e-9
    return more or (bool(set(finding.evidence) - set(existing.evidence)) and finding.value >= existing.value - 1e-9)


def apply_finding(existing: Alert | None, finding: Finding, *, upn: str | None, now: datetime) -> Change | None:
    """The alert after this finding, or None when nothing changed."""
    if existing is None:
        alert = Alert(
            id=finding.alert_id, rule=finding.rule, severity=finding.severity, subject=_subject(finding, upn),
            la_code=finding.la_code, la_codes=_la_codes(finding), academic_year=finding.academic_year, term=finding.term,
            value=finding.value, threshold=finding.threshold, evidence=list(finding.evidence), limit_reached=finding.limit_reached,
            projected_limit_date=finding.projected_limit_date, due_on=finding.due_on,
            status=AlertStatus.open, created_at=now, updated_at=now, version=1, episode=1,
        )  # fmt: skip
        return Change(alert, "raised")
    evidence, la_codes = list(finding.evidence), _la_codes(finding)
    held_again = existing.status == AlertStatus.resolved and existing.resolved_by == SIGNPOST
    if not held_again and _same(existing, finding, evidence, la_codes, upn):
        return None
    changes: dict[str, Any] = {
        "severity": finding.severity,
        "value": finding.value,
        "threshold": finding.threshold,
        "evidence": evidence,
        "subject": _subject(finding, upn),
        "la_code": finding.la_code,
        "la_codes": la_codes,
        "limit_reached": finding.limit_reached,
        "projected_limit_date": finding.projected_limit_date,
        "due_on": finding.due_on,
    }
    fresh = new_evidence(existing, finding)
    worse = SEVERITY_RANK[finding.severity] > SEVERITY_RANK[existing.severity]
    kind, note = ("evidence" if fresh else "updated"), None
    if existing.status == AlertStatus.resolved:
        if held_again:  # announced as news: the referrals it was withdrawn from route it again
            note, kind = "holds again", "evidence"
            changes.update(status=AlertStatus.open, resolved_by=None, status_note=note)
        elif fresh:
            note = f"episode {existing.episode + 1}: new evidence after it was resolved"
            changes.update(status=AlertStatus.open, resolved_by=None, episode=existing.episode + 1, status_note=note)
    elif existing.status != AlertStatus.open and (fresh or worse):
        note = f"re-opened: severity rose to {finding.severity}" if worse else "re-opened: new evidence"
        changes.update(status=AlertStatus.open, snoozed_until=None, status_note=note)
    changes.update(updated_at=now, version=existing.version + 1)
    return Change(existing.model_copy(update=changes), kind, note)


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


def resolve(alert: Alert, note: str | None, now: datetime, by: str) -> Alert:
    """Resolved by a person (`by` = their principal), or by Signpost when the alert no longer holds."""
    return alert.model_copy(
        update={"status": AlertStatus.resolved, "status_note": note, "snoozed_until": None, "resolved_by": by, "updated_at": now, "version": alert.version + 1}
    )


def no_longer_holds(alert: Alert, note: str, now: datetime) -> Alert | None:
    """Signpost resolves an alert whose rule no longer holds, saying why (None if it is resolved already)."""
    if alert.status == AlertStatus.resolved:
        return None
    return resolve(alert, note, now, SIGNPOST)


def wake(alert: Alert, now: datetime) -> Alert | None:
    """A snoozed alert whose time has come is open again."""
    if alert.status != AlertStatus.snoozed or alert.snoozed_until is None or alert.snoozed_until > now:
        return None
    return alert.model_copy(update={"status": AlertStatus.open, "status_note": "snooze expired", "snoozed_until": None, "updated_at": now, "version": alert.version + 1})
