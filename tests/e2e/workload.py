"""A known load of exclusion notices, a poster that retries until each is acknowledged, and a ledger
that says which of the alerts and referrals the load must produce are missing or there twice.

Shared by the kill and store-outage tests ("no child missed, no referral lost").
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import aiohttp

from schemas.upn import check_letter
from tests.e2e.system import System

NEARING, EXCEEDED = "suspension_days_nearing_limit", "suspension_days_limit_exceeded"
# Mondays of the 2024/25 autumn term (Bromley), away from half term and the term's last 10 days
# (no end-of-term spike) so each suspension counts in full in one academic year.
START_DATES = ("2024-09-09", "2024-09-23", "2024-10-07", "2024-11-04", "2024-11-18")
SCHOOL_URN, LA_CODE = "101676", "305"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Workload:
    """`children` pupils, each suspended `notices_each` times for `sessions` half-days; every
    `send_every`-th child has an EHC plan (so IAS is also referred)."""

    tag: str
    children: int
    notices_each: int
    sessions: int
    send_every: int = 0

    def upn(self, child: int) -> str:
        body = f"{LA_CODE}{child:09d}"
        return check_letter(body) + body

    def send(self, child: int) -> bool:
        return self.send_every > 0 and child % self.send_every == 0

    @property
    def days(self) -> float:
        return self.notices_each * self.sessions / 2

    @property
    def rules(self) -> tuple[str, ...]:
        """The child alerts every child must have (contract defaults: 30 days nearing, over 45 exceeded)."""
        return tuple(rule for rule, holds in ((NEARING, self.days >= 30), (EXCEEDED, self.days > 45)) if holds)

    def agencies(self, child: int) -> dict[str, set[str]]:
        """agency → the rules of the alerts its one referral for the child must carry (default policy)."""
        out: dict[str, set[str]] = {}
        if NEARING in self.rules:
            out["reu"] = {NEARING}
        if EXCEEDED in self.rules:
            out["exclusions_officer"] = {EXCEEDED}
        if self.send(child) and self.rules:
            out["ias"] = set(self.rules)
        return out

    @property
    def all_agencies(self) -> tuple[str, ...]:
        return tuple(sorted({a for child in range(self.children) for a in self.agencies(child)}))

    def bodies(self) -> list[dict]:
        """Child by child, so alerts (and referrals) are made all along the stream, not only at its end."""
        out = []
        for child in range(self.children):
            pupil = {"upn": self.upn(child), "first_name": f"Child{child}", "last_name": self.tag.capitalize(), "date_of_birth": "2012-01-01",
                     "year_group": "8", "sen_status": "E" if self.send(child) else "N"}
            for n in range(self.notices_each):
                out.append({"notice_id": f"{self.tag}-{child}-{n}", "school_urn": SCHOOL_URN, "la_code": LA_CODE, "pupil": pupil,
                            "category": "suspension", "start_date": START_DATES[n], "sessions": self.sessions, "reason_codes": ["DB"],
                            "notified_at": f"{START_DATES[n]}T09:00:00Z"})
        return out


@dataclass
class Posting:
    acknowledged: int = 0
    unavailable: int = 0  # 503 answers (the contract's "not accepted, retry")
    transport_errors: int = 0  # no answer at all (the intake process was down)
    seconds: float = 0.0


async def post_all(system: System, bodies: list[dict], at: dict[int, Callable[[], None]] | None = None, workers: int = 32,
                   per_second: float | None = None) -> Posting:
    """POST every notice until it is acknowledged (202, or 200: the intake already had it), retrying
    on 503 and on transport errors. `at[n]()` runs once, as soon as n notices are acknowledged.
    `per_second` spreads the posts out (None: as fast as the intake takes them).

    aiohttp, not httpx: with 32 requests in flight httpx's pool spent about 20 times the CPU (46 s
    against 2.5 s for 10,000 posts), starving the system under test on a 2-core machine."""
    actions = dict(sorted((at or {}).items()))
    queue: asyncio.Queue[dict] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    posting = Posting()
    headers = {"Authorization": f"Bearer {system.tokens['intake']}"}
    url = system.url("intake", "/v1/exclusion-notices")
    started = time.monotonic()

    async def post(session: aiohttp.ClientSession, body: dict) -> tuple[int, str] | None:
        try:
            async with session.post(url, json=body, headers=headers) as r:
                return r.status, await r.text()
        except (TimeoutError, aiohttp.ClientError):
            return None

    async def worker(session: aiohttp.ClientSession, first: int) -> None:
        sent = first
        while not queue.empty():
            body = queue.get_nowait()
            if per_second:
                await asyncio.sleep(max(0.0, started + sent / per_second - time.monotonic()))
                sent += workers
            while True:
                answer = await post(session, body)
                if answer is not None and answer[0] in (200, 202):
                    posting.acknowledged += 1
                    break
                assert answer is None or answer[0] == 503, answer
                if answer is None:
                    posting.transport_errors += 1
                else:
                    posting.unavailable += 1
                await asyncio.sleep(0.2)
            while actions and posting.acknowledged >= next(iter(actions)):
                actions.pop(next(iter(actions)))()

    connector = aiohttp.TCPConnector(limit=workers)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:
        await asyncio.gather(*(worker(session, i) for i in range(workers)))
    posting.seconds = time.monotonic() - started
    assert not actions, f"never reached {list(actions)} acknowledgements"
    return posting


def _pages(system: System, service: str, path: str) -> list[dict]:
    items, cursor = [], None
    while True:
        status, page = system.request(service, "GET", path + (f"&cursor={cursor}" if cursor else ""), "inclusion_team")
        assert status == 200, (service, path, status, page)
        items += page["items"]  # type: ignore[index]
        cursor = page.get("next_cursor")  # type: ignore[union-attr] - absent when None (referrals exclude None)
        if not cursor:
            return items


@dataclass
class Ledger:
    """What the system holds for a workload, and how it differs from what it must hold."""

    workload: Workload
    alerts: dict[str, list[dict]] = field(default_factory=dict)  # rule → alerts of the workload's children
    referrals: dict[str, list[dict]] = field(default_factory=dict)  # agency → referrals of the workload's children

    @classmethod
    def read(cls, system: System, workload: Workload) -> Ledger:
        upns = {workload.upn(c) for c in range(workload.children)}
        ledger = cls(workload)
        for rule in workload.rules:
            items = _pages(system, "alerts", f"/v1/alerts?rule={rule}&la_code={LA_CODE}&limit=500")
            ledger.alerts[rule] = [a for a in items if a["subject"].get("upn") in upns]
        for agency in ("reu", "exclusions_officer", "ias", "nas"):
            items = _pages(system, "referrals", f"/v1/referrals?agency={agency}&limit=500")
            ledger.referrals[agency] = [r for r in items if r["child"].get("upn") in upns]
        return ledger

    def problems(self) -> list[str]:
        """One line per rule or agency that is not exactly as it must be: how many children are
        missing, duplicated (two alerts or referrals) or wrong (a suspension counted twice or not at
        all; a referral whose reasons aren't its alerts, each once); empty when all is well."""
        w = self.workload
        index = {w.upn(c): c for c in range(w.children)}
        out = []
        alert_ids: dict[tuple[int, str], set[str]] = defaultdict(set)
        for rule, alerts in self.alerts.items():
            per_child = _distinct_per_child(alerts, lambda a: a["subject"]["upn"], index)
            wrong = [a for a in alerts if a["value"] != w.days or len(set(a["evidence"])) != len(a["evidence"]) or len(a["evidence"]) != w.notices_each]
            for a in alerts:
                alert_ids[(index[a["subject"]["upn"]], rule)].add(a["id"])
            out += _line(f"alerts {rule}", w.children, per_child, wrong=len(wrong),
                         wrong_note=f"values {sorted(Counter(a['value'] for a in wrong).items())}, expected {w.days}")
        for agency, referrals in self.referrals.items():
            want = {c for c in range(w.children) if agency in w.agencies(c)}
            per_child = _distinct_per_child(referrals, lambda r: r["child"]["upn"], index)
            unexpected = sum(1 for c in per_child if c not in want)
            wrong = 0
            for r in referrals:
                child = index[r["child"]["upn"]]
                every = [(x.get("rule"), x.get("alert_id")) for x in r["reasons"]]
                # the workload's rules, each once; other rules may add reasons too (a suspension of
                # over 5 days is also a day-6 duty, a third in a term a count trigger: issue 11)
                reasons = {x for x in every if x[0] in w.rules}
                expected = {(rule, aid) for rule in w.agencies(child).get(agency, ()) for aid in alert_ids[(child, rule)]}
                wrong += len(every) != len(set(every)) or reasons != expected
            out += _line(f"referrals {agency}", len(want), {c: n for c, n in per_child.items() if c in want}, wrong=wrong, unexpected=unexpected,
                         wrong_note="reasons not exactly the child's alerts, each once")
        return out

    def summary(self) -> str:
        counts = [f"{rule}: {len(a)}" for rule, a in self.alerts.items()] + [f"{agency}: {len(r)}" for agency, r in self.referrals.items()]
        return ", ".join(counts)


def _distinct_per_child(items: Iterable[dict], upn_of: Callable[[dict], str], index: dict[str, int]) -> dict[int, int]:
    ids: dict[int, set[str]] = defaultdict(set)
    for item in items:
        ids[index[upn_of(item)]].add(item["id"])
    return {child: len(v) for child, v in ids.items()}


def _line(what: str, expected: int, per_child: dict[int, int], *, wrong: int = 0, unexpected: int = 0, wrong_note: str = "") -> list[str]:
    present = len(per_child)
    duplicated = sum(1 for n in per_child.values() if n > 1)
    if present == expected and not duplicated and not wrong and not unexpected:
        return []
    parts = [f"{present}/{expected} children have one", f"{expected - present} missing", f"{duplicated} duplicated"]
    if wrong:
        parts.append(f"{wrong} wrong ({wrong_note})")
    if unexpected:
        parts.append(f"{unexpected} children who should have none")
    return [f"{what}: " + ", ".join(parts)]


def await_ledger(system: System, workload: Workload, timeout: float = 180, stalled: float = 60, settle: float = 4) -> Ledger:
    """Poll until the workload's alerts and referrals are all there exactly once, then look again
    after `settle` seconds (a duplicate may land late). Fail with what is missing or duplicated once
    nothing has changed for `stalled` seconds (longer than any of the system's retry backoffs), or
    after `timeout` in all."""
    started = last_change = time.monotonic()
    seen: list[str] = []
    while True:
        ledger = Ledger.read(system, workload)
        problems = ledger.problems()
        if not problems:
            time.sleep(settle)
            ledger = Ledger.read(system, workload)
            problems = ledger.problems()
            if not problems:
                log.info("all there, once, %.1fs after posting ended: %s", time.monotonic() - started, ledger.summary())
                return ledger
        now = time.monotonic()
        if problems != seen:
            seen, last_change = problems, now
        if now - last_change > stalled or now - started > timeout:
            raise AssertionError(f"after {now - started:.0f}s of waiting, {now - last_change:.0f}s without a change ({ledger.summary()}):\n  "
                                 + "\n  ".join(problems))
        time.sleep(1)


async def event_ids_on_intake_topics(system: System, expected: int, quiet: float = 5.0) -> Counter:
    """Every event id on the intake topics, with how many times it is there (reads until quiet)."""
    from aiokafka import AIOKafkaConsumer

    from schemas.topics import INTAKE_TOPICS

    consumer = AIOKafkaConsumer(*[system.prefix + t.name for t in INTAKE_TOPICS], bootstrap_servers=f"127.0.0.1:{system.broker_port}",
                                group_id=None, auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    seen: Counter = Counter()
    last_new = time.monotonic()
    try:
        while time.monotonic() - last_new < quiet or sum(seen.values()) < expected and time.monotonic() - last_new < 60:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for r in records:
                    seen[dict(r.headers)["ce_id"].decode()] += 1
                    last_new = time.monotonic()
    finally:
        await consumer.stop()
    return seen
