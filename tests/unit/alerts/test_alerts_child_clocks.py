"""The child stage's clock and tick (issue 11): today injectable, a tick on an interval and on a new date."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from pydantic import ValidationError

from services.alerts.child_clocks import Ticker, file_clock
from services.common.settings import Settings


def test_the_tick_is_due_at_first_after_its_interval_and_when_the_date_changes() -> None:
    now, today = [100.0], [date(2025, 3, 10)]
    ticker = Ticker(lambda: today[0], interval=60, monotonic=lambda: now[0])
    assert ticker.due()
    ticker.ticked(today[0])
    now[0] += 59
    assert not ticker.due()
    now[0] += 1
    assert ticker.due()
    ticker.ticked(today[0])
    today[0] = date(2025, 3, 11)  # midnight, or a test moving its clock
    assert ticker.due()


def test_the_test_clock_reads_its_file_and_falls_back_to_the_real_date(tmp_path: Path) -> None:
    path = tmp_path / "today"
    clock = file_clock(path, fallback=lambda: date(2030, 1, 1))
    assert clock() == date(2030, 1, 1)
    path.write_text("2025-04-01\n")
    assert clock() == date(2025, 4, 1)


def test_the_test_clock_is_refused_in_production(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="tests only"):
        Settings(env="production", today_file=tmp_path / "today", pseudonym_key="k" * 64)
    assert Settings(today_file=tmp_path / "today").today_file == tmp_path / "today"
