"""How the child stage keeps what it has not used lately: deflated, with a preset dictionary.

A cold child record (child_records.freeze) or alert (alerting.freeze) is ~0.7-1 KB of JSON, most of
it the same field names and value shapes as every other: deflate's preset dictionary (RFC 1951's
window primed with typical bytes, as zlib's `zdict`) lets each value refer to them instead of
restating them. Measured on 15,000 records and 5,800 alerts of a generated year: a record 467 → 319
bytes, an alert 371 → 138, at the same CPU (~25 µs to freeze, ~10 µs to thaw).

The dictionaries are made-up examples, not anyone's data. Only the process that froze a value thaws
it (cold copies are never stored or sent), so changing a dictionary only changes how well it packs.
"""

from __future__ import annotations

import zlib

_WBITS = -12  # raw deflate, 4 KiB window (a value is ~1 KB); level 1, the quickest
_MEM_LEVEL = 8  # zlib's default

RECORD_DICT = (
    b'{"child_id":"ch_0a1b2c3d4e5f6a7b","first_name":"Sam","last_name":"Example","date_of_birth":"2012-01-01",'
    b'"upn":"A123456789012","la_code":"123","school_urn":"123456","year_group":"7","sen_status":"K","sen_needs":["SEMH"],'
    b'"la_codes":["123"],"suspected_send":false,"looked_after":false,"has_social_worker":false}\x1e'
    b'{"identity":["2023-09-20T12:05:51.000000+00:00","notice:N-123456-1234"],"la":[1,"2023-09-20T12:05:51.000000+00:00",'
    b'"notice:N-123456-1234"],"school":[1,"2023-09-20T12:05:51.000000+00:00","notice:N-123456-1234"],"year_group":'
    b'["2023-09-20T12:05:51.000000+00:00","notice:N-123456-1234"],"sen_status":["2023-09-20T12:05:51.000000+00:00",'
    b'"notice:N-123456-1234"]}\x1e{"s":[["2023/24","A123456789012|123456|2023-09-20","notice:N-123456-1234",2,'
    b'"2023-09-20T12:05:51.000000+00:00","123456","123","2023-09-20"]],"i":[]}\x1e[null,null,[],null,1]'
)
ALERT_DICT = (
    b'{"id":"al_0a1b2c3d4e5f6a7b8c9d","rule":"suspension_days_nearing_limit","severity":"warning","subject":{"kind":"child",'
    b'"child_id":"ch_0a1b2c3d4e5f6a7b","upn":"A123456789012"},"la_code":"123","la_codes":["123"],"academic_year":"2023/24",'
    b'"term":null,"value":30.0,"threshold":30.0,"evidence":["notice:N-123456-1234","notice:N-123456-1235"],'
    b'"limit_reached":false,"projected_limit_date":null,"due_on":null,"status":"open","status_note":null,"snoozed_until":null,'
    b'"resolved_by":null,"episode":1,"created_at":"2026-11-30T12:00:00Z","updated_at":"2026-11-30T12:00:00Z","version":1}'
)


def deflate(raw: bytes, zdict: bytes) -> bytes:
    packer = zlib.compressobj(1, zlib.DEFLATED, _WBITS, _MEM_LEVEL, zlib.Z_DEFAULT_STRATEGY, zdict)
    return packer.compress(raw) + packer.flush()


def inflate(cold: bytes, zdict: bytes) -> bytes:
    unpacker = zlib.decompressobj(_WBITS, zdict)
    return unpacker.decompress(cold) + unpacker.flush()
