"""How the pages word things: labels, tags and dates. Pure, so the wording is tested once."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

RULES = {
    "suspension_days_nearing_limit": "Nearing the 45-day limit",
    "suspension_days_limit_exceeded": "Over the 45-day limit",
    "informal_exclusions_repeated": "Repeated informal exclusions",
    "end_of_term_spike": "End-of-term spike",
    # issue 11 (docs/rules.md)
    "protected_child_permanently_excluded": "Permanent exclusion: EHC plan or looked after",
    "social_care_child_excluded": "Excluded: looked after or with a social worker",
    "part_time_timetable_concern": "Part-time timetable of concern",
    "off_rolling_review": "Possible off-rolling",
    "managed_move_trial": "Managed move on trial",
    "late_notifications_high": "Suspensions notified late",
    "suspensions_in_term": "Suspensions this term",
    "governing_board_review_due": "Governing board must consider",
    "governing_board_decision_overdue": "Governing board decision overdue",
    "irp_application_window_open": "Independent review: time to apply",
    "irp_review_overdue": "Independent review overdue",
    "governing_board_reconsideration_overdue": "Reconsideration overdue",
    "education_from_day_six_missing": "No education from day 6 (school)",
    "la_education_from_day_six_missing": "No education from day 6 (LA)",
    "education_from_day_six_notice_late": "Day-6 education notified late",
}
AGENCIES = {
    "ias": "IAS (SENDIASS)",
    "exclusions_officer": "Exclusions officer",
    "reu": "Re-engagement Unit",
    "nas": "NAS school exclusions service",
    "virtual_school": "Virtual School",
    "ace": "ACE (Advisory Centre for Education)",
    "coram": "Coram Children's Legal Centre",
}
# GOV.UK tag colours; each pairs text and background at WCAG AA contrast (govuk-frontend's own)
SEVERITY_TAGS = {"info": "govuk-tag--grey", "warning": "govuk-tag--yellow", "high": "govuk-tag--orange", "critical": "govuk-tag--red"}
STATUS_TAGS = {"open": "govuk-tag--blue", "acknowledged": "govuk-tag--grey", "snoozed": "govuk-tag--purple", "resolved": "govuk-tag--green",
               "new": "govuk-tag--blue", "accepted": "govuk-tag--turquoise", "declined": "govuk-tag--pink", "closed": "govuk-tag--green"}
INBOX_TABS = {"new": "New", "overdue": "Overdue", "accepted": "Accepted", "closed": "Closed"}
CONSENT_RECIPIENTS = {"nas": "NAS", "ias": "IAS", "la": "The local authority", "ace": "ACE", "coram": "Coram Children's Legal Centre"}
# Agencies that keep a family's consent for the children referred to them (the referrals API decides:
# services/referrals/domain/consent.py); here only to offer the link the API would not refuse.
CONSENT_KEEPERS = frozenset({"ias"})
LAWFUL_BASES = {"consent": "Consent (UK GDPR article 6(1)(a))", "legal_obligation": "Legal obligation (6(1)(c))",
                "public_task": "Public task (6(1)(e))", "vital_interests": "Vital interests (6(1)(d))"}


def rule_label(rule: str) -> str:
    return RULES.get(rule, rule.replace("_", " ").capitalize())


def agency_label(agency: str | None) -> str:
    return AGENCIES.get(agency or "", agency or "")


def day(value: str | date | datetime | None) -> str:
    """'14 March 2025', as GOV.UK writes dates."""
    if value in (None, ""):
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00")) if "T" in value else date.fromisoformat(value)
    return f"{value.day} {value:%B %Y}"


def when(value: str | datetime | None) -> str:
    """'14 March 2025 at 9:05am' (UTC)."""
    if not value:
        return ""
    moment = datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value
    hour = moment.hour % 12 or 12
    return f"{moment.day} {moment:%B %Y} at {hour}:{moment:%M}{'am' if moment.hour < 12 else 'pm'}"


def days(value: float | int | None) -> str:
    if value is None:
        return ""
    n = float(value)
    text = f"{n:g}"
    return f"{text} day" if n == 1 else f"{text} days"


def inbox_tab_params(tab: str) -> dict[str, Any]:
    """The referrals API query behind an inbox tab."""
    return {"new": {"status": "new", "overdue": "false"}, "overdue": {"overdue": "true"}, "accepted": {"status": "accepted"},
            "closed": {"status": "closed"}}.get(tab, {"status": "new"})


def alert_subject(alert: dict[str, Any]) -> str:
    subject = alert.get("subject") or {}
    if subject.get("kind") == "child":
        return f"Child {subject.get('upn') or subject.get('child_id', '')[:12]}"
    if subject.get("kind") == "school":
        return f"School {subject.get('school_urn')}"
    return f"LA {subject.get('la_code')}"


def child_name(child: dict[str, Any] | None) -> str:
    if not child:
        return "Unknown child"
    return f"{child.get('first_name', '')} {child.get('last_name', '')}".strip() or "Unknown child"


def history_label(entry: dict[str, Any]) -> str:
    change = entry.get("change") or entry.get("action") or ""
    return {"raised": "Alert raised", "evidence": "New evidence", "updated": "Updated", "status": f"Status: {entry.get('status', '')}",
            "created": "Referral made", "accept": "Accepted", "accepted": "Accepted", "decline": "Declined", "declined": "Declined",
            "close": "Closed", "closed": "Closed", "escalated": "Escalated: overdue", "reason_added": "Reason added",
            "evidence_added": "Evidence added"}.get(change, change.replace("_", " ").capitalize())


def due(school_days: int) -> str:
    """'in 3 school days', 'today', '2 school days overdue'."""
    if school_days == 0:
        return "due today"
    unit = "school day" if abs(school_days) == 1 else "school days"
    return f"in {school_days} {unit}" if school_days > 0 else f"{-school_days} {unit} overdue"


def consent_source(source: str) -> dict[str, str]:
    """Who recorded a consent entry, and on what basis: "call:<id>", "api:<who>:<time>" (a withdrawal)
    or "basis:<lawful basis>:<who>:<time>" (a person recorded it)."""
    kind, _, rest = source.partition(":")
    if kind == "call":
        return {"by": "the family, on a call", "basis": ""}
    if kind == "basis":
        basis, _, rest = rest.partition(":")
        return {"by": rest.rsplit(":", 3)[0], "basis": LAWFUL_BASES.get(basis, basis)}
    return {"by": rest.rsplit(":", 3)[0], "basis": ""}
