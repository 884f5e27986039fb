"""Valid intake payloads as plain JSON dicts, with fresh ids on every call.

Every factory takes keyword overrides that replace top-level keys; `pupil_overrides`
(or `make_pupil(**kw)`) changes fields inside the pupil block. Ids come from uuid4, so
tests never collide even on a shared broker or database.
"""

from __future__ import annotations

import random
import uuid
from typing import Any

from schemas.upn import check_letter

DEFAULT_LA = "305"
DEFAULT_URN = "101676"


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


def valid_upn(body: str | None = None) -> str:
    """A permanent UPN with the right check letter (random serial unless `body` is given)."""
    if body is None:
        body = f"{random.randint(200, 999)}{random.randint(1000, 9999)}{random.randint(10, 25)}{random.randint(0, 999):03d}"
    return check_letter(body) + body


def invalid_upn(upn: str | None = None) -> str:
    """The same UPN with a wrong check letter."""
    upn = upn or valid_upn()
    wrong = next(c for c in "ABCDEFGH" if c != upn[0])
    return wrong + upn[1:]


def make_pupil(**overrides: Any) -> dict:
    pupil = {
        "upn": valid_upn(),
        "first_name": "Zoë",
        "last_name": "Smith-Jones",
        "date_of_birth": "2014-05-01",
        "year_group": "6",
        "sen_status": "K",
        "sen_primary_need": "ASD",
        "suspected_send": False,
        "looked_after": False,
        "has_social_worker": False,
    }
    pupil.update(overrides)
    return {k: v for k, v in pupil.items() if v is not ...}  # `...` removes a field


def make_notice(pupil_overrides: dict | None = None, **overrides: Any) -> dict:
    notice = {
        "notice_id": new_id("N"),
        "school_urn": DEFAULT_URN,
        "la_code": DEFAULT_LA,
        "pupil": make_pupil(**(pupil_overrides or {})),
        "category": "suspension",
        "start_date": "2025-03-03",
        "end_date": "2025-03-04",
        "sessions": 4,
        "reason_codes": ["PP", "DB"],
        "notified_at": "2025-03-03T09:00:00Z",
    }
    notice.update(overrides)
    return {k: v for k, v in notice.items() if v is not ...}


def make_call(pupil_overrides: dict | None = None, **overrides: Any) -> dict:
    call = {
        "call_id": new_id("C"),
        "received_at": "2025-03-10T14:00:00Z",
        "received_by": "ias",
        "caller_role": "parent",
        "la_code": DEFAULT_LA,
        "school_urn": DEFAULT_URN,
        "pupil": make_pupil(**(pupil_overrides or {})),
        "concerns": ["sent_home_informally"],
        "incident_dates": ["2025-03-05", "2025-03-07"],
        "consent": {"share_with_la": True, "share_with_ias": True, "share_with_nas": False},
        "summary": "Mum says he was sent home at lunch twice.",
    }
    call.update(overrides)
    return {k: v for k, v in call.items() if v is not ...}


def make_record(pupil_overrides: dict | None = None, **overrides: Any) -> dict:
    record = {
        "record_id": new_id("REC"),
        "kind": "suspension",
        "school_urn": DEFAULT_URN,
        "pupil": make_pupil(**(pupil_overrides or {})),
        "start_date": "2025-02-03",
        "end_date": "2025-02-04",
        "sessions": 2,
        "reason_codes": ["VA"],
    }
    record.update(overrides)
    return {k: v for k, v in record.items() if v is not ...}


def make_return(n_records: int = 3, records: list[dict] | None = None, **overrides: Any) -> dict:
    la_return = {
        "return_id": new_id("R"),
        "la_code": DEFAULT_LA,
        "period_start": "2025-01-06",
        "period_end": "2025-03-31",
        "submitted_at": "2025-04-01T08:30:00Z",
        "records": records if records is not None else [make_record() for _ in range(n_records)],
    }
    la_return.update(overrides)
    return {k: v for k, v in la_return.items() if v is not ...}


CSV_HEADER = (
    "record_id,kind,school_urn,upn,first_name,last_name,date_of_birth,year_group,sen_status,sen_primary_need,"
    "suspected_send,looked_after,has_social_worker,start_date,end_date,sessions,reason_codes"
)


def csv_row(**overrides: Any) -> dict:
    """One CSV row as a dict of cell strings (column order from CSV_HEADER)."""
    row = {
        "record_id": new_id("REC"),
        "kind": "suspension",
        "school_urn": DEFAULT_URN,
        "upn": valid_upn(),
        "first_name": "Amir",
        "last_name": "Khan",
        "date_of_birth": "2013-09-14",
        "year_group": "7",
        "sen_status": "N",
        "sen_primary_need": "",
        "suspected_send": "false",
        "looked_after": "false",
        "has_social_worker": "true",
        "start_date": "2025-02-10",
        "end_date": "",
        "sessions": "2",
        "reason_codes": "DB;PA",
    }
    row.update({k: str(v) for k, v in overrides.items()})
    return row


def _cell(value: str) -> str:
    if any(c in value for c in ',"\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


def to_csv(rows: list[dict], header: str = CSV_HEADER, newline: str = "\r\n") -> str:
    names = header.split(",")
    lines = [header] + [",".join(_cell(row.get(n, "")) for n in names) for row in rows]
    return newline.join(lines) + newline


# ---- issue 11 (items 1-3): what follows an exclusion --------------------------------------------
PROCEEDINGS_DEFAULTS: dict[str, dict[str, Any]] = {
    "governing-board-decisions": {"decision_id": "D", "exclusion_category": "permanent", "outcome": "upheld", "decided_on": "2025-03-20"},
    "parent-representations": {"representation_id": "R", "received_on": "2025-03-12"},
    "irp-applications": {"application_id": "A", "sent_on": "2025-03-24", "method": "email"},
    "irp-decisions": {"irp_decision_id": "I", "outcome": "upheld", "decided_on": "2025-04-25"},
    "education-provisions": {"provision_id": "E", "arranged_by": "la", "start_date": "2025-03-17"},
}


def make_proceeding(endpoint: str, pupil: dict | None = None, **overrides: Any) -> dict:
    """A body for POST /v1/<endpoint> (schemas/proceedings.py), about an exclusion from 10 March 2025."""
    body: dict[str, Any] = {"school_urn": DEFAULT_URN, "la_code": DEFAULT_LA, "pupil": pupil or make_pupil(), "exclusion_start_date": "2025-03-10",
                            **PROCEEDINGS_DEFAULTS[endpoint]}  # fmt: skip
    id_field = next(k for k in PROCEEDINGS_DEFAULTS[endpoint] if k.endswith("_id"))
    body[id_field] = new_id(body[id_field])
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}
