"""A moving-window rate limit kept in deques: what `limits`' MovingWindowRateLimiter on its memory
storage answers, at O(1) a hit. That storage inserts each hit at the front of a list and starts a
timer thread every 10 ms to expire entries: ~27 µs and a thread a hit at the intake's write rate."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class MovingWindow:
    """Per key, at most `amount` hits in any `seconds`, for each (amount, seconds) limit in turn.

    As `limits` does: a hit is counted in each limit it passes, up to the first that refuses it; a
    hit exactly `seconds` old still counts."""

    def __init__(self, limits: list[tuple[int, float, str]], clock: Callable[[], float] = time.monotonic) -> None:
        self.limits, self.clock = limits, clock  # (amount, seconds, as written) each
        self.hits: dict[tuple[str, int], deque[float]] = {}
        self.longest = max((seconds for _, seconds, _ in limits), default=0.0)
        self.swept = clock()

    def hit(self, key: str) -> tuple[str, float] | None:
        """None when `key` may go ahead; else (the limit it is over, seconds until a hit leaves its window)."""
        now = self.clock()
        self._sweep(now)
        for i, (amount, seconds, written) in enumerate(self.limits):
            window = self.hits.setdefault((key, i), deque())
            while window and window[0] < now - seconds:
                window.popleft()
            if len(window) >= amount:
                return written, window[0] + seconds - now
            window.append(now)
        return None

    def _sweep(self, now: float) -> None:
        """Drop the windows of keys that have not hit for the longest window (tokens rotate, people come and go)."""
        if now - self.swept < self.longest:
            return
        self.swept = now
        for k in [k for k, window in self.hits.items() if not window or window[-1] < now - self.limits[k[1]][1]]:
            del self.hits[k]
