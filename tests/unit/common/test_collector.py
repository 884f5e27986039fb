"""The collector's pause: overlapping pauses (the relay's thread and the loop) resume it once, at the end,
and only if it was running before the first."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from services.common import collector


@pytest.fixture(autouse=True)
def _restore() -> Iterator[None]:
    was = gc.isenabled()
    yield
    if was:
        gc.enable()


def test_overlapping_pauses_resume_it_when_the_last_ends() -> None:
    gc.enable()
    first, second = collector.paused(), collector.paused()
    first.__enter__()
    second.__enter__()
    assert not gc.isenabled()
    first.__exit__(None, None, None)  # the other is still building
    assert not gc.isenabled()
    second.__exit__(None, None, None)
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off() -> None:
    gc.disable()
    assert collector.call_paused(sum, [1, 2]) == 3
    assert not gc.isenabled()


def test_it_resumes_after_an_error() -> None:
    gc.enable()
    with pytest.raises(ValueError), collector.paused():
        raise ValueError
    assert gc.isenabled()
