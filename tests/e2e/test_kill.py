"""No child missed, no referral lost: SIGKILL any part of the running system mid-stream and every
child still gets each of its alerts once and each expected referral once (issue 8, deliverable 8).

1. Each of intake, alerts, referrals and the embedded broker is SIGKILLed while 10,000 notices
   arrive; the supervisor (`make run`) restarts it; the system stays up.
2. The issue's case (a): 200 children x 4 suspensions of 24 sessions, the broker SIGKILLed halfway,
   then the whole system stopped and started on the same data directory; each acknowledged event is
   then on the intake topics exactly once.
3. The issue's case (b): the alerts service paused (SIGSTOP), the broker SIGKILLed and restarted
   by the supervisor while notices keep arriving, the alerts service resumed; no full restart.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.system import System
from tests.e2e.workload import Workload, await_ledger, event_ids_on_intake_topics, post_all

pytestmark = pytest.mark.integration
log = logging.getLogger(__name__)

# 2,000 children x 5 suspensions of 20 sessions = 10,000 notices; 50 days each: a nearing-limit alert
# (high) and a limit-exceeded alert (critical) per child, referred to the REU and the exclusions
# officer; every 10th child has an EHC plan, so 200 are referred to IAS as well.
TEN_THOUSAND = Workload("kill", children=2000, notices_each=5, sessions=20, send_every=10)


def pid_of(system: System, component: str) -> int:
    return system.broker_pid() if component == "broker" else system.service_pid(component)


def signal_to(system: System, component: str, sig: signal.Signals, done: list[int]) -> Callable[[], None]:
    """An action for post_all: send `sig` to the component's process now; its pid goes to `done`."""

    def act() -> None:
        pid = pid_of(system, component)
        os.kill(pid, sig)
        done.append(pid)
        log.info("%s (pid %d) sent %s", component, pid, sig.name)

    return act


class Restart(threading.Thread):
    """Watches, from the kill on, for the supervisor to have the component running (a service: ready) again."""

    def __init__(self, system: System, component: str, old_pid: int):
        super().__init__(daemon=True)
        self.system, self.component, self.old_pid = system, component, old_pid
        self.seconds: float | None = None

    def run(self) -> None:
        started = time.monotonic()
        while time.monotonic() - started < 120:
            try:
                if pid_of(self.system, self.component) != self.old_pid and (self.component == "broker" or _ready(self.system, self.component)):
                    self.seconds = time.monotonic() - started
                    return
            except RuntimeError:  # not started again yet
                pass
            time.sleep(0.1)

    def result(self) -> float:
        self.join()
        assert self.seconds is not None, f"the supervisor did not restart {self.component} within 120s"
        return self.seconds


def kill_and_watch(system: System, component: str, watches: list[Restart]) -> Callable[[], None]:
    """An action for post_all: SIGKILL the component and start watching for its restart."""

    def act() -> None:
        pids: list[int] = []
        signal_to(system, component, signal.SIGKILL, pids)()
        watches.append(Restart(system, component, pids[0]))
        watches[-1].start()

    return act


def _ready(system: System, service: str) -> bool:
    try:
        with urllib.request.urlopen(system.url(service, "/readyz"), timeout=2) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


@pytest.mark.parametrize("component", ["intake", "alerts", "referrals", "broker"])
def test_a_component_killed_mid_stream_misses_no_child_and_doubles_nothing(tmp_path: Path, component: str) -> None:
    system = System(tmp_path)
    system.start()
    try:
        restarts: list[Restart] = []
        bodies = TEN_THOUSAND.bodies()
        posting = asyncio.run(post_all(system, bodies, at={4000: kill_and_watch(system, component, restarts)}))
        assert posting.acknowledged == len(bodies)
        log.info("posted %d in %.1fs (%d answers 503, %d transport errors)", len(bodies), posting.seconds, posting.unavailable, posting.transport_errors)
        log.info("%s running again %.1fs after the kill", component, restarts[0].result())
        await_ledger(system, TEN_THOUSAND)
    finally:
        system.stop()


def test_issue_case_a_broker_killed_halfway_then_the_whole_system_restarted(tmp_path: Path) -> None:
    workload = Workload("halfway", children=200, notices_each=4, sessions=24)  # 48 days: nearing (high) and exceeded
    system = System(tmp_path)
    system.start()
    try:
        killed: list[int] = []
        bodies = workload.bodies()
        posting = asyncio.run(post_all(system, bodies, at={len(bodies) // 2: signal_to(system, "broker", signal.SIGKILL, killed)}))
        assert posting.acknowledged == len(bodies)
    finally:
        system.stop()
    system.start()  # the same data directory; a fresh, empty broker
    try:
        ledger = await_ledger(system, workload)
        assert {agency: len(r) for agency, r in ledger.referrals.items() if r} == {"reu": 200, "exclusions_officer": 200}
        seen = asyncio.run(event_ids_on_intake_topics(system, len(bodies)))  # the intake's log published again, whole, once
        assert set(seen) == {f"notice:{b['notice_id']}" for b in bodies}, "an acknowledged event is missing"
        assert max(seen.values()) == 1, f"published twice: {[k for k, v in seen.items() if v > 1][:5]}"
    finally:
        system.stop()


def test_issue_case_b_broker_restarted_by_the_supervisor_while_notices_keep_arriving(tmp_path: Path) -> None:
    """As the issue measured it: the alerts service paused (SIGSTOP) so it is behind when the broker
    dies, notices still arriving, then resumed; the system is not restarted. (The broker killed with
    nothing paused is the 10,000-notice test's `broker` case.)"""
    workload = Workload("restart", children=150, notices_each=4, sessions=24, send_every=5)
    system = System(tmp_path)
    system.start()
    stopped: list[int] = []
    try:
        killed: list[int] = []
        actions = {100: signal_to(system, "alerts", signal.SIGSTOP, stopped), 200: signal_to(system, "broker", signal.SIGKILL, killed),
                   400: lambda: _resume(stopped)}
        bodies = workload.bodies()
        posting = asyncio.run(post_all(system, bodies, at=actions, per_second=40))  # 600 notices over about 15 s
        assert posting.acknowledged == len(bodies)
        log.info("posted %d in %.1fs (%d answers 503, %d transport errors)", len(bodies), posting.seconds, posting.unavailable, posting.transport_errors)
        await_ledger(system, workload)
    finally:
        _resume(stopped)
        system.stop()


def _resume(stopped: list[int]) -> None:
    while stopped:
        try:
            os.kill(stopped.pop(), signal.SIGCONT)
        except ProcessLookupError:
            pass
