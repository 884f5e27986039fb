"""A synthetic national year (2023/24) of intake events, shaped by DfE statistics.

Why synthetic: no real pupil-level data may be used, but throughput and memory depend on
the shape of the data (how many children, how many events each, how many cross the 30, 40
and 45-day thresholds, how many callers give no UPN), so the shape follows the published
figures:

* volume: England 2023/24 had about 955k suspensions and 11k permanent exclusions; to them
  are added 20k helpline calls and 10k LA-return records (per million events; `n_events`
  scales everything);
* where: suspensions are spread over real LAs and school phases with the weights of the
  DfE LA-level file (2022/23, the latest year in it), and over real open state-funded and
  special schools of those LAs (the 2017/18 spine, LA codes mapped to today's);
* repeats: the number of suspensions per child follows a truncated power law whose mean
  equals the national suspensions / pupils-with-one-or-more ratio (about 2.6): most
  children have one, a long tail has 20 to 60, so some cross 30, 40 and 45 days;
* pupils: valid UPNs (mod-23 check letter), SEN shares (~35% SEN support K, ~11% EHCP E),
  ages that fit the phase;
* time: suspensions fall on the school days of 2023/24 (services.common.calendar);
  events are emitted in the order the intake would accept them.

Output: the Kafka records exactly as the intake publishes them. Payloads are validated by
the intake's own pydantic models and turned into records by
`services.intake.submissions` (same key, ce_id and value bytes as production); the only
difference is that ce_time is the synthetic acceptance time instead of the wall clock, so
a seed always gives the same bytes. `headers_for(record)` gives the CloudEvents headers.
"""

from __future__ import annotations

import argparse
import bisect
import csv
import gc
import itertools
import math
import multiprocessing
import os
import random
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from tqdm import tqdm

from bench.common import configure_bench_pseudonyms
from schemas.codes import INFORMAL_CONCERNS
from schemas.intake import Call, ExclusionNotice, LAReturn
from schemas.pupil import Pupil
from schemas.upn import check_letter
from services.common.calendar import load_registry
from services.intake.eventlog import LogRecord
from services.intake.submissions import call_submission, notice_submission, return_submission

DATA = Path("/work/shared/data")
EXCLUSIONS_FILE = DATA / "exclusions" / "exc_nat_region_la_200607_to_202223.csv"
SCHOOLS_FILE = DATA / "schools" / "england_school_information_2017-18.csv"
ACADEMIC_YEAR = "2023/24"
DEFAULT_SEED = 2026

# A national year per million events (2023/24 published totals, plus calls and returns).
PER_MILLION = {"permanent": 11_000, "calls": 20_000, "returns": 10_000}  # the rest are suspensions (~959k)
MAX_SUSPENSIONS_PER_CHILD = 60

#: LA codes of the 2017/18 spine that no longer exist → today's codes (reorganisations 2019-2021).
LA_RENAMES = {"835": ("838",), "836": ("839",), "837": ("839",), "928": ("940", "941")}

# Half-day sessions of one suspension (1 = half a day ... 30 = 15 days), with weights.
SESSIONS = ((1, 8), (2, 50), (3, 4), (4, 17), (6, 9), (10, 8), (20, 3), (30, 1))
# DfE reason codes, roughly as often as they are given nationally.
REASONS = (("DB", 46), ("VA", 13), ("PP", 11), ("VP", 8), ("PA", 5), ("DA", 3), ("DM", 2), ("OW", 2), ("BU", 2), ("RA", 1), ("SM", 1), ("TH", 1), ("LD", 3), ("CB", 2))
SEN_NEEDS = (("SEMH", 50), ("ASD", 15), ("SLCN", 12), ("MLD", 9), ("SPLD", 6), ("OTH", 4), ("PD", 2), ("HI", 1), ("VI", 1))
CONCERNS = ("sent_home_informally", "part_time_timetable", "isolation", "suspension", "permanent_exclusion", "ehe_pressure", "managed_move", "off_rolling", "other")
FIRST = ("Oliver", "Amelia", "Noah", "Isla", "Muhammad", "Ava", "George", "Olivia", "Leo", "Lily", "Harry", "Freya", "Oscar", "Ivy", "Archie", "Florence",
         "Henry", "Willow", "Theo", "Mia", "Jack", "Sophia", "Charlie", "Isabella", "Arthur", "Grace", "Jacob", "Evie", "Thomas", "Ella", "Alfie", "Poppy",
         "Joshua", "Zoë", "Amir", "Aisha", "Kacper", "Zuzanna", "Chidi", "Adaeze", "Siobhán", "Rhys", "Seren", "Dylan", "Ffion", "Kai", "Maya", "Yusuf")
LAST = ("Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson", "Thomas", "Johnson", "Roberts", "Robinson", "Thompson", "Wright",
        "Walker", "White", "Edwards", "Hughes", "Green", "Hall", "Lewis", "Harris", "Clarke", "Patel", "Jackson", "Wood", "Turner", "Martin", "Cooper",
        "Hill", "Ward", "Morris", "Moore", "Khan", "Ali", "Ahmed", "Begum", "Nowak", "Okafor", "O'Brien", "Smith-Jones", "Kowalski", "Mensah", "Singh")
QUIET_CONCERNS = tuple(c for c in CONCERNS if c not in INFORMAL_CONCERNS)
PHASE_YEARS = {"primary": ("R", "1", "2", "3", "4", "5", "6"), "secondary": ("7", "8", "9", "10", "11"), "special": ("3", "5", "7", "8", "9", "10", "11")}
PHASE_YEAR_WEIGHTS = {"primary": (2, 4, 6, 9, 12, 16, 18), "secondary": (14, 24, 27, 23, 12), "special": (5, 10, 15, 20, 20, 18, 12)}


@dataclass(frozen=True, slots=True)
class School:
    urn: str
    la_code: str
    estab: str
    phase: str


@dataclass(slots=True)
class Child:
    pupil: Pupil
    school: School
    la_code: str
    suspensions: list[tuple[date, int, School, bool]] = field(default_factory=list)  # (start, sessions, school, lunchtime)


@dataclass
class Year:
    """The generated year: records in acceptance order, and what a correct detector should find."""

    records: list[LogRecord]
    counts: Counter
    children: int
    expected: dict[str, int]  # children over 30 / 40 / 45 days (distinct suspensions, notices and returns together)
    seed: int
    seconds: float


# ---------------------------------------------------------------------------- reference data
def _int(cell: str) -> int:
    try:
        return int(float(cell))
    except ValueError:  # "x", "c", "z", ":" are suppressed or not applicable
        return 0


def load_la_weights(period: str = "202223") -> tuple[dict[tuple[str, str], int], float]:
    """Suspensions per (LA, phase) and the national suspensions per suspended pupil."""
    phases = {"state-funded primary": "primary", "state-funded secondary": "secondary", "special": "special"}
    cells: dict[tuple[str, str], int] = {}
    suspensions = one_plus = 0
    with open(EXCLUSIONS_FILE, newline="", encoding="utf-8-sig") as fh:
        for row in csv.DictReader(fh):
            if row["time_period"] != period:
                continue
            if row["geographic_level"] == "Local authority" and row["school_type"] in phases:
                cells[(row["old_la_code"], phases[row["school_type"]])] = _int(row["suspension"])
            elif row["geographic_level"] == "National" and row["school_type"] == "Total":
                suspensions, one_plus = _int(row["suspension"]), _int(row["one_plus_susp"])
    return cells, suspensions / one_plus


def load_schools() -> dict[tuple[str, str], list[School]]:
    """Open state-funded and special schools by (today's LA code, phase)."""
    out: dict[tuple[str, str], list[School]] = defaultdict(list)
    with open(SCHOOLS_FILE, newline="", encoding="utf-8-sig") as fh:
        for row in csv.DictReader(fh):
            if row["ICLOSE"] != "1" or row["MINORGROUP"] not in ("Academy", "Maintained School", "Special School"):
                continue
            if row["MINORGROUP"] == "Special School":
                phase = "special"
            elif row["ISSECONDARY"] == "1":
                phase = "secondary"
            elif row["ISPRIMARY"] == "1":
                phase = "primary"
            else:
                continue
            las = LA_RENAMES.get(row["LA"], (row["LA"],))
            la = las[int(row["URN"]) % len(las)]
            out[(la, phase)].append(School(row["URN"], la, (row["ESTAB"] or "0").zfill(4)[-4:], phase))
    return out


def zipf_exponent(mean: float, cap: int = MAX_SUSPENSIONS_PER_CHILD) -> float:
    """The exponent a of p(k) ~ k^-a on 1..cap whose mean is `mean` (bisection)."""
    lo, hi = 1.01, 4.0
    for _ in range(60):
        a = (lo + hi) / 2
        weights = [k**-a for k in range(1, cap + 1)]
        m = sum(k * w for k, w in zip(range(1, cap + 1), weights, strict=True)) / sum(weights)
        lo, hi = (a, hi) if m > mean else (lo, a)
    return (lo + hi) / 2


class _Weighted:
    """Fast repeated weighted choice (cumulative weights + bisect)."""

    def __init__(self, items: list, weights: list[float], rng: random.Random):
        self.items, self.rng = items, rng
        self.cum = list(itertools.accumulate(weights))

    def __call__(self):  # noqa: ANN204
        return self.items[bisect.bisect_right(self.cum, self.rng.random() * self.cum[-1])]


# ---------------------------------------------------------------------------- the generator
# A planned event: (acceptance time, kind, payload dict). Payloads are built when planned (cheap
# dicts) and turned into validated records afterwards, in parallel (see `_build_range`).
Planned = tuple[str, str, dict]


class Generator:
    def __init__(self, n_events: int = 1_000_000, seed: int = DEFAULT_SEED, linkable_incident_calls: bool = True):
        self.n_events, self.seed = n_events, seed
        self.linkable_incident_calls = linkable_incident_calls
        self.rng = random.Random(seed)
        scale = n_events / 1_000_000
        self.n_permanent = round(PER_MILLION["permanent"] * scale)
        self.n_calls = round(PER_MILLION["calls"] * scale)
        self.n_returns = round(PER_MILLION["returns"] * scale)
        self.n_suspensions = n_events - self.n_permanent - self.n_calls - self.n_returns
        self.registry = load_registry()
        self._days: dict[str, list[date]] = {}
        self._upns: set[str] = set()
        self._serial = itertools.count(1)
        rng = self.rng
        self._pick_sessions = _Weighted([s for s, _ in SESSIONS], [w for _, w in SESSIONS], rng)
        self._reason = _Weighted([r for r, _ in REASONS], [w for _, w in REASONS], rng)
        self._need = _Weighted([x for x, _ in SEN_NEEDS], [w for _, w in SEN_NEEDS], rng)
        self._year_group = {p: _Weighted(list(PHASE_YEARS[p]), list(PHASE_YEAR_WEIGHTS[p]), rng) for p in PHASE_YEARS}

    # -- pieces ---------------------------------------------------------------
    def school_days(self, la_code: str) -> list[date]:
        days = self._days.get(la_code)
        if days is None:
            days = self._days[la_code] = [d for t in self.terms(la_code) for d in t.school_days]
        return days

    def terms(self, la_code: str):  # noqa: ANN201 - tuple[Term, ...]
        return self.registry.for_la(la_code).terms(ACADEMIC_YEAR)

    def upn(self, school: School) -> str:
        rng = self.rng
        while True:
            body = f"{school.la_code}{school.estab}{12 + int(rng.random() * 9):02d}{int(rng.random() * 1000):03d}"
            upn = check_letter(body) + body
            if upn not in self._upns:
                self._upns.add(upn)
                return upn

    def pupil(self, school: School, with_upn: bool = True) -> Pupil:
        rng = self.rng
        year_group = self._year_group[school.phase]()
        n = 0 if year_group == "R" else int(year_group)
        born = date(2018 - n, 9, 1) + timedelta(days=int(rng.random() * 365))  # year Y: born Sep (2018-Y) to Aug (2019-Y)
        r = rng.random()
        sen = "K" if r < 0.35 else "E" if r < 0.46 else "N"
        return Pupil.model_validate(
            {
                "upn": self.upn(school) if with_upn else None,
                "first_name": FIRST[int(rng.random() * len(FIRST))],
                "last_name": LAST[int(rng.random() * len(LAST))],
                "date_of_birth": born,
                "year_group": year_group,
                "sen_status": sen,
                "sen_primary_need": self._need() if sen != "N" else None,
                "suspected_send": sen == "N" and rng.random() < 0.05,
                "looked_after": rng.random() < 0.02,
                "has_social_worker": rng.random() < 0.10,
            }
        )

    def reasons(self) -> list[str]:
        r = self.rng.random()
        n = 1 if r < 0.8 else 2 if r < 0.95 else 3
        out = [self._reason()]
        while len(out) < n:
            code = self._reason()
            if code not in out:
                out.append(code)
        return out

    def stamp(self, day: date, start_hour: int = 8, end_hour: int = 17) -> tuple[str, str]:
        """(a sender's timestamp on `day`, the intake's acceptance time a little later), both UTC."""
        seconds = start_hour * 3600 + int(self.rng.random() * (end_hour - start_hour) * 3600)
        when = f"{day.isoformat()}T{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}Z"
        return when, f"{when[:-1]}.{int(self.rng.random() * 1e6):06d}Z"

    def random_school(self) -> School:
        return self._pick_school[self._pick_cell()]()

    # -- the plan: children and what happens to them ----------------------------
    def plan_children(self) -> list[Child]:
        rng = self.rng
        cells, ratio = load_la_weights()
        schools = load_schools()
        usable = [(cell, w) for cell, w in sorted(cells.items()) if w > 0 and schools.get(cell)]
        self._pick_cell = _Weighted([c for c, _ in usable], [w for _, w in usable], rng)
        self._pick_school = {cell: _Weighted(schools[cell], [rng.lognormvariate(0, 0.8) for _ in schools[cell]], rng) for cell, _ in usable}
        a = zipf_exponent(ratio)
        pick_k = _Weighted(list(range(1, MAX_SUSPENSIONS_PER_CHILD + 1)), [k**-a for k in range(1, MAX_SUSPENSIONS_PER_CHILD + 1)], rng)
        children: list[Child] = []
        left = self.n_suspensions
        while left > 0:
            cell = self._pick_cell()
            school = self._pick_school[cell]()
            k = min(pick_k(), left)
            left -= k
            child = Child(self.pupil(school), school, school.la_code)
            days = self.school_days(school.la_code)
            starts = sorted(rng.sample(days, min(k, len(days)))) if k > 1 else [days[int(rng.random() * len(days))]]
            moved = k >= 4 and rng.random() < 0.03  # a few change school mid-year: their days still add up
            second = self._pick_school[cell]() if moved else school
            for i, start in enumerate(starts):
                at = second if moved and i >= len(starts) // 2 else school
                lunchtime = rng.random() < 0.02
                child.suspensions.append((start, 1 + int(rng.random() * 3) if lunchtime else self._pick_sessions(), at, lunchtime))
            children.append(child)
        return children

    def plan_events(self, children: list[Child]) -> list[Planned]:
        rng = self.rng
        events: list[Planned] = []
        for child in children:
            for start, sessions, school, lunchtime in child.suspensions:
                events.append(self._notice(child, school, start, sessions, lunchtime))
        # permanent exclusions: mostly of children suspended before, after their last suspension
        repeaters = [c for c in children if len(c.suspensions) >= 2]
        for _ in range(self.n_permanent):
            if repeaters and rng.random() < 0.85:
                child = repeaters[int(rng.random() * len(repeaters))]
                days = self.school_days(child.la_code)
                i = min(bisect.bisect_right(days, child.suspensions[-1][0]) + int(rng.random() * 10), len(days) - 1)
                day, school = days[i], child.suspensions[-1][2]
            else:
                school = self.random_school()
                child = Child(self.pupil(school), school, school.la_code)
                day = rng.choice(self.school_days(school.la_code))
            events.append(self._notice(child, school, day, 0, False, permanent=True))
        # helpline calls: mostly about suspended children; some callers give no UPN, some report days sent home
        for _ in range(self.n_calls):
            if children and rng.random() < 0.75:
                child = children[int(rng.random() * len(children))]
            else:
                school = self.random_school()
                child = Child(self.pupil(school, with_upn=rng.random() >= 0.3), school, school.la_code)
            events.append(self._call(child))
        events += self._returns(children)  # after the notices: duplicates copy notices
        events.sort(key=lambda e: e[0])  # stable: a return's records keep their order
        return events

    def _notice(self, child: Child, school: School, start: date, sessions: int, lunchtime: bool, permanent: bool = False) -> Planned:
        when, accepted = self.stamp(start)
        doc = {"notice_id": f"N-{school.urn}-{next(self._serial)}", "school_urn": school.urn, "la_code": child.la_code, "pupil": child.pupil,
               "start_date": start, "reason_codes": self.reasons(), "notified_at": when}
        if permanent:
            doc["category"] = "permanent"
        elif lunchtime:
            doc |= {"category": "lunchtime", "lunchtimes": sessions, "end_date": start}
        else:
            end = start if sessions <= 2 else self.registry.for_la(child.la_code).add_school_days(start, math.ceil(sessions / 2) - 1)
            doc |= {"category": "suspension", "sessions": sessions, "end_date": end}
        return accepted, "notice", doc

    def _call(self, child: Child) -> Planned:
        rng = self.rng
        days = self.school_days(child.la_code)
        drop_upn = child.pupil.upn is not None and rng.random() < 0.15  # callers often don't know it
        i = 5 + int(rng.random() * (len(days) - 5))
        when, accepted = self.stamp(days[i], 9, 20)
        # A UPN-less call reporting an informal exclusion about a child other events name by UPN exercises
        # linking (it once crashed the child stage when both reached one batch: fixed, and tested).
        informal_ok = not drop_upn or self.linkable_incident_calls
        concerns = set(rng.sample(CONCERNS if informal_ok else QUIET_CONCERNS, 1 + (rng.random() < 0.4)))
        incident_dates: list[date] = []
        if rng.random() < 0.4 and informal_ok:
            concerns.add("sent_home_informally")
            incident_dates = sorted(rng.sample(days[i - 5 : i + 1], 1 + int(rng.random() * 3)))
        pupil = child.pupil.model_copy(update={"upn": None}) if drop_upn else child.pupil
        doc = {"call_id": f"C-{child.la_code}-{next(self._serial)}", "received_at": when,
               "received_by": ("ias", "exclusions_officer", "reu", "nas", "la_inclusion")[int(rng.random() * 5)],
               "caller_role": "parent" if rng.random() < 0.7 else "professional" if rng.random() < 0.67 else "young_person", "la_code": child.la_code,
               "school_urn": child.school.urn if rng.random() < 0.8 else None, "pupil": pupil, "concerns": sorted(concerns), "incident_dates": incident_dates,
               "consent": {"share_with_la": rng.random() < 0.7, "share_with_ias": rng.random() < 0.8, "share_with_nas": rng.random() < 0.2}}
        return accepted, "call", doc

    def _returns(self, children: list[Child]) -> list[Planned]:
        """~n_returns records, in one return per (LA, term) that has any: copies of notified suspensions,
        suspensions nobody notified, days sent home, part-time timetables, managed moves..."""
        rng = self.rng
        kinds = (("duplicate", 45), ("suspension", 10), ("sent_home", 20), ("part_time_timetable", 10), ("managed_move", 8),
                 ("alternative_provision", 4), ("permanent_exclusion", 3))
        pick_kind = _Weighted([k for k, _ in kinds], [w for _, w in kinds], rng)
        by_la_term: dict[tuple[str, int], list[dict]] = defaultdict(list)
        for n in range(self.n_returns):
            child = children[int(rng.random() * len(children))]
            kind = pick_kind()
            if kind == "duplicate":  # the LA's copy of a suspension a school notified: same UPN, school, start, sessions
                start, sessions, school, _ = rng.choice(child.suspensions)
                record = {"kind": "suspension", "school_urn": school.urn, "start_date": start, "sessions": sessions, "reason_codes": self.reasons()}
            else:
                school, start = child.school, rng.choice(self.school_days(child.la_code))
                record = {"kind": kind, "school_urn": school.urn, "start_date": start}
                if kind == "suspension":  # never notified: new days for the child
                    sessions = self._pick_sessions()
                    record |= {"sessions": sessions, "reason_codes": self.reasons()}
                    child.suspensions.append((start, sessions, school, False))
                elif kind == "permanent_exclusion":
                    record["reason_codes"] = self.reasons()
            record |= {"record_id": f"REC-{n + 1}", "pupil": child.pupil}
            term = next(i for i, t in enumerate(self.terms(child.la_code)) if start <= t.end)
            by_la_term[(child.la_code, term)].append(record)
        out: list[Planned] = []
        for (la_code, term_i), records in sorted(by_la_term.items()):
            term = self.terms(la_code)[term_i]
            when, accepted = self.stamp(term.end + timedelta(days=3 + int(rng.random() * 18)))
            doc = {"return_id": f"R-{la_code}-{term.id.replace('/', '-')}-{self.seed}", "la_code": la_code, "period_start": term.start,
                   "period_end": term.end, "submitted_at": when, "records": records}
            out.append((accepted, "return", doc))
        return out

    # -- everything ---------------------------------------------------------------
    def generate(self, progress: bool = True, workers: int | None = None) -> Year:
        started = time.perf_counter()
        # Millions of live objects and no garbage cycles: the cyclic collector would only re-scan
        # them over and over (it made 1M events 3x slower).
        enabled = gc.isenabled()
        gc.disable()
        try:
            children = self.plan_children()
            planned = self.plan_events(children)
            records = build_records(planned, progress, workers)
        finally:
            if enabled:
                gc.enable()
        return Year(records, Counter(r.topic for r in records), len(children), expected_crossings(children), self.seed, time.perf_counter() - started)


# ---------------------------------------------------------------------------- building records
_PLANNED: list[Planned] = []  # inherited by forked workers: nothing is pickled on the way in


def build_one(kind: str, doc: dict, accepted: str) -> list[tuple]:
    """Validate like the intake does and build its log records (as tuples: cheap to pickle)."""
    if kind == "notice":
        submission = notice_submission(ExclusionNotice.model_validate(doc), accepted)
    elif kind == "call":
        submission = call_submission(Call.model_validate(doc), accepted)
    else:
        submission = return_submission(LAReturn.model_validate(doc), accepted)
    return [(r.topic, r.event_id, r.key, r.ce_type, r.ce_time, r.value) for r in submission.records]


def _build_range(bounds: tuple[int, int]) -> list[tuple]:
    out: list[tuple] = []
    for accepted, kind, doc in _PLANNED[bounds[0] : bounds[1]]:
        out += build_one(kind, doc, accepted)
    return out


def build_records(planned: list[Planned], progress: bool = True, workers: int | None = None) -> list[LogRecord]:
    """Build every record; with fork, on every core (the records come back in plan order)."""
    global _PLANNED  # noqa: PLW0603 - read by forked workers
    workers = workers or min(4, os.cpu_count() or 1)
    chunk = 20_000
    ranges = [(i, min(i + chunk, len(planned))) for i in range(0, len(planned), chunk)]
    total = sum(len(doc["records"]) if kind == "return" else 1 for _, kind, doc in planned)
    bar = tqdm(total=total, unit="ev", unit_scale=True, desc="generating", disable=not progress, mininterval=0.5, file=sys.stderr)
    rows: list[tuple] = []
    _PLANNED = planned
    gc.freeze()  # forked workers then leave the parent's pages alone (no copy-on-write by the collector)
    try:
        if workers > 1 and len(ranges) > 1 and "fork" in multiprocessing.get_all_start_methods():
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                for part in pool.imap(_build_range, ranges):
                    rows += part
                    bar.update(len(part))
        else:
            for bounds in ranges:
                part = _build_range(bounds)
                rows += part
                bar.update(len(part))
    finally:
        _PLANNED = []
        gc.unfreeze()
        bar.close()
    return [LogRecord(*row) for row in rows]


def expected_crossings(children: list[Child]) -> dict[str, int]:
    """Children whose distinct suspensions (the contract's same-suspension key) reach 30 / 40 / over 45 days."""
    out = {"30": 0, "40": 0, "45": 0}
    for child in children:
        distinct = {(start, sessions, school.urn) for start, sessions, school, _ in child.suspensions}
        days = sum(sessions for _, sessions, _ in distinct) / 2
        out["30"] += days >= 30
        out["40"] += days >= 40
        out["45"] += days > 45
    return out


def generate(n_events: int = 1_000_000, seed: int = DEFAULT_SEED, progress: bool = True, workers: int | None = None,
             linkable_incident_calls: bool = True) -> Year:
    configure_bench_pseudonyms()  # record keys are pseudonyms, as the intake makes them
    return Generator(n_events, seed, linkable_incident_calls).generate(progress, workers)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.generator", description="Generate a synthetic national year and print its shape.")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    year = generate(args.events, args.seed)
    per_child: Counter[str] = Counter()
    for r in year.records:
        per_child[r.key] += 1
    repeat = Counter(min(v, 10) for v in per_child.values())
    print(f"{len(year.records):,} records in {year.seconds:.1f}s ({len(year.records) / year.seconds:,.0f}/s); children planned: {year.children:,}")  # noqa: T201
    print("by topic:", dict(year.counts))  # noqa: T201
    print("events per child key (10 = 10+):", dict(sorted(repeat.items())))  # noqa: T201
    print("children reaching 30 / 40 / over 45 days:", year.expected)  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
