"""Turn validated intake payloads into event-log submissions (pure: no I/O)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

import orjson

from schemas.intake import Call, ExclusionCancellation, ExclusionNotice, LAReturn, LAReturnRecord
from schemas.pupil import child_key, upn_key
from schemas.topics import CALLS, EXCLUSION_CANCELLATIONS, EXCLUSION_NOTICES, LA_RETURN_RECORDS
from services.intake.csv_columns import CheckedRecords
from services.intake.eventlog import LogRecord, Submission


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def notice_event_id(notice_id: str) -> str:
    return f"notice:{notice_id}"


def call_event_id(call_id: str) -> str:
    return f"call:{call_id}"


def return_record_event_id(return_id: str, record_id: str) -> str:
    # "|" is not allowed in ids, so no two (return, record) pairs can share an event id
    return f"la-return:{return_id}|{record_id}"


def notice_submission(notice: ExclusionNotice, accepted_at: str | None = None) -> Submission:
    body = notice.model_dump_json().encode()
    record = LogRecord(
        EXCLUSION_NOTICES.name,
        notice_event_id(notice.notice_id),
        child_key(notice.la_code, notice.pupil),
        EXCLUSION_NOTICES.ce_type,
        accepted_at or _now(),
        body,
    )
    return Submission("exclusion_notice", notice.notice_id, _hash(body), (record,))


def call_submission(call: Call, accepted_at: str | None = None) -> Submission:
    body = call.model_dump_json().encode()
    record = LogRecord(CALLS.name, call_event_id(call.call_id), child_key(call.la_code, call.pupil), CALLS.ce_type, accepted_at or _now(), body)
    return Submission("call", call.call_id, _hash(body), (record,))


def return_submission(la_return: LAReturn, accepted_at: str | None = None, *, hash_submitted_at: bool = True) -> Submission:
    """One log record per return record, each keyed by its child; the return's header travels with each.

    A CSV return's submitted_at is stamped by the server, so it stays out of the idempotency hash
    (`hash_submitted_at=False`): sending the same file twice is a duplicate, not a conflict."""
    head = ReturnHeader(la_return.return_id, la_return.la_code, la_return.period_start, la_return.period_end, la_return.submitted_at)
    records = la_return.records
    return records_submission(
        head,
        [rec.model_dump_json().encode() for rec in records],
        [rec.record_id for rec in records],
        [_record_key(la_return.la_code, rec) for rec in records],
        accepted_at,
        hash_submitted_at=hash_submitted_at,
    )


@dataclass(frozen=True, slots=True)
class ReturnHeader:
    """What every record of an LA return carries of the return (LAReturnRecordSubmitted)."""

    return_id: str
    la_code: str
    period_start: date
    period_end: date
    submitted_at: datetime


def csv_return_submission(head: ReturnHeader, records: CheckedRecords, accepted_at: str | None = None) -> Submission:
    """A CSV return's records, checked column-wise (csv_columns): the same log records as
    `return_submission(LAReturn(...), hash_submitted_at=False)` gives for the same rows."""
    keys = {upn: upn_key(upn) for upn in set(records.upns)}  # a keyed hash per child, not per record
    return records_submission(head, records.jsons, records.record_ids, list(map(keys.__getitem__, records.upns)), accepted_at, hash_submitted_at=False)


def records_submission(head: ReturnHeader, record_jsons: Sequence[bytes], record_ids: Sequence[str], keys: Sequence[str],
                       accepted_at: str | None = None, *, hash_submitted_at: bool) -> Submission:  # fmt: skip
    when = accepted_at or _now()
    header = orjson.dumps(
        {"return_id": head.return_id, "la_code": head.la_code, "period_start": head.period_start, "period_end": head.period_end, "submitted_at": head.submitted_at}
    )
    prefix = header[:-1] + b',"record":'
    digest = hashlib.sha256(prefix if hash_submitted_at else _header_without_time(head))
    event_prefix = f"la-return:{head.return_id}|"  # return_record_event_id, hoisted
    topic, ce_type = LA_RETURN_RECORDS.name, LA_RETURN_RECORDS.ce_type
    records = []
    for rec_json, record_id, key in zip(record_jsons, record_ids, keys, strict=True):
        digest.update(rec_json)
        records.append(LogRecord(topic, event_prefix + record_id, key, ce_type, when, prefix + rec_json + b"}"))
    return Submission("la_return", head.return_id, digest.hexdigest(), tuple(records))


def _header_without_time(head: ReturnHeader) -> bytes:
    return orjson.dumps({"return_id": head.return_id, "la_code": head.la_code, "period_start": head.period_start, "period_end": head.period_end})


def _record_key(la_code: str, rec: LAReturnRecord) -> str:
    return child_key(la_code, rec.pupil)


# ---------------------------------------------------------------- issue 11, item 6 (R-CANCEL)


def cancellation_event_id(cancellation_id: str) -> str:
    return f"cancellation:{cancellation_id}"


def cancellation_submission(cancellation: ExclusionCancellation, accepted_at: str | None = None) -> Submission:
    body = cancellation.model_dump_json().encode()
    record = LogRecord(EXCLUSION_CANCELLATIONS.name, cancellation_event_id(cancellation.cancellation_id), child_key(cancellation.la_code, cancellation.pupil),
                       EXCLUSION_CANCELLATIONS.ce_type, accepted_at or _now(), body)  # fmt: skip
    return Submission("exclusion_cancellation", cancellation.cancellation_id, _hash(body), (record,))
