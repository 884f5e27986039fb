"""Subject access (issue 12, item 4): the due date, the archive, who saw a child."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, date, datetime

import pytest

from services.common.calendar import BANK_HOLIDAYS_FILE, SHIPPED_DIR, load_bank_holidays
from services.common.subject_access import archive, due_date, readers

HOLIDAYS = load_bank_holidays(SHIPPED_DIR / BANK_HOLIDAYS_FILE)


@pytest.mark.parametrize("received,due", [
    (date(2025, 3, 4), date(2025, 4, 4)),    # the same day next month (a Friday)
    (date(2025, 1, 31), date(2025, 2, 28)),  # no 31 February: the month's last day
    (date(2024, 1, 31), date(2024, 2, 29)),  # leap year
    (date(2025, 3, 29), date(2025, 4, 29)),  # received on a Saturday: counts from receipt all the same
    (date(2025, 4, 26), date(2025, 5, 27)),  # 26 May 2025 is the spring bank holiday: the next working day
    (date(2024, 11, 25), date(2024, 12, 27)),  # 25 Dec and 26 Dec are bank holidays
    (date(2024, 12, 15), date(2025, 1, 15)),  # across the year end
    (date(2025, 5, 4), date(2025, 6, 4)),
    (date(2025, 8, 2), date(2025, 9, 2)),
    (date(2025, 6, 28), date(2025, 7, 28)),  # 28 July 2025 is a Monday
    (date(2025, 6, 26), date(2025, 7, 28)),  # 26 July is a Saturday: Monday
])  # fmt: skip
def test_due_one_calendar_month_later_on_a_working_day(received: date, due: date) -> None:
    assert due_date(received, HOLIDAYS) == due


def test_the_archive_holds_json_and_csv_per_record_type_and_a_manifest() -> None:
    parts = {"alerts": {"children": [{"child_id": "ch_1", "profile": {"first_name": "Amara"}}], "alerts": []},
             "intake": {"events": [{"seq": 1, "value": {"pupil": {"upn": "W305541021101"}}}]}}
    data = archive("ch_1", date(2025, 3, 4), date(2025, 4, 4), parts)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = set(zf.namelist())
        manifest = json.loads(zf.read("manifest.json"))
        assert json.loads(zf.read("alerts/children.json")) == parts["alerts"]["children"]
        csv_text = zf.read("intake/events.csv").decode()
    assert names == {"manifest.json", "alerts/children.json", "alerts/children.csv", "alerts/alerts.json", "alerts/alerts.csv",
                     "intake/events.json", "intake/events.csv"}
    assert manifest == {"child_id": "ch_1", "received": "2025-03-04", "due": "2025-04-04",
                        "contents": {"alerts/children": 1, "alerts/alerts": 0, "intake/events": 1}}
    assert csv_text.splitlines()[0] == "seq,value" and "W305541021101" in csv_text


def test_readers_lists_who_read_a_child_not_who_changed_it() -> None:
    at = [datetime(2025, 3, d, 9, tzinfo=UTC) for d in (1, 2, 3)]
    entries = [
        {"principal": "ias-officer", "action": "read_referral", "at": at[0]},
        {"principal": "ias-officer", "action": "read_referral", "at": at[2]},
        {"principal": "team-1", "action": "stream_alert", "at": at[1]},
        {"principal": "team-1", "action": "acknowledge", "at": at[1]},
        {"principal": "dpo", "action": "export_child", "at": at[1]},
    ]
    assert readers(entries) == [
        {"principal": "ias-officer", "reads": 2, "actions": ["read_referral"], "first": at[0].isoformat(), "last": at[2].isoformat()},
        {"principal": "team-1", "reads": 1, "actions": ["stream_alert"], "first": at[1].isoformat(), "last": at[1].isoformat()},
        {"principal": "dpo", "reads": 1, "actions": ["export_child"], "first": at[1].isoformat(), "last": at[1].isoformat()},
    ]
