"""Answers of the read endpoints the web pages use (issue 10): counts, a child's story, a school's
terms, an LA's overview. Counts and dates; a child's story is special-category data (audited)."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from schemas.alerts import Alert
from schemas.children import ChildProfile
from schemas.referrals import Referral


class AlertCounts(BaseModel):
    by_status: dict[str, int] = Field(description="open, acknowledged, snoozed, resolved: alerts matching the filters in each")
    total: int


class AlertChanges(BaseModel):
    items: list[Alert] = Field(description="alerts changed at or after `since`, oldest change first")


class StorySuspension(BaseModel):
    event_id: str
    school_urn: str
    la_code: str
    start_date: date
    sessions: int
    days: float
    academic_year: str


class StoryIncident(BaseModel):
    day: date
    event_id: str
    school_urn: str | None = None
    la_code: str


class SchoolDays(BaseModel):
    school_urn: str
    days: float


class ChildStory(BaseModel):
    child_id: str
    profile: ChildProfile
    linked_records: list[str] = Field(default_factory=list, description="records that count as this child")
    academic_year: str | None = Field(description="the year totalled: the one asked for, else the latest with a suspension")
    total_days: float
    limit: float
    by_school: list[SchoolDays]
    suspensions: list[StorySuspension] = Field(description="every counted suspension, every year, newest first")
    incidents: list[StoryIncident] = Field(description="informal-exclusion incidents, newest first")
    projected_limit_date: date | None = Field(description="when the limit would be reached at the year's rate so far; none at or over it")


class TermDay(BaseModel):
    day: date
    suspensions: int
    end_of_term: bool = Field(description="in the end-of-term spike rule's window")


class SchoolTerm(BaseModel):
    term: str
    start: date
    end: date
    suspensions: int
    days: list[TermDay]


class SchoolTerms(BaseModel):
    school_urn: str
    la_codes: list[str]
    academic_year: str
    window_school_days: int
    terms: list[SchoolTerm]


class MonthAlerts(BaseModel):
    month: str = Field(examples=["2024-11"])
    by_rule: dict[str, int]


class BandChildren(BaseModel):
    band: str
    children: int


class LAOverview(BaseModel):
    la_code: str
    academic_year: str
    alerts_by_month: list[MonthAlerts]
    children_by_band: list[BandChildren]


class ReferralCounts(BaseModel):
    agency: str | None = Field(description="the agency counted (an agency's own; none: every agency)")
    tabs: dict[str, int] = Field(description="new (in time), overdue, accepted, closed (closed or declined)")


class ReferralChanges(BaseModel):
    items: list[Referral] = Field(description="referrals changed at or after `since`, oldest change first, as the caller may see them")
