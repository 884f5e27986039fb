"""How the child stage finds records: cached in memory for the partitions it owns, the store is the
truth and a miss loads from it; a record linked into another counts as the root of its links.
`Records` is the base of the stage and of its link and detection halves (child_links.py,
child_detection.py): what they read of the stage is declared here.

A cached record is hot (a `ChildState`, ~3 KB of objects) or cold: its store row's values, deflated
into one bytes object (~0.3 KB; `freeze`/`thaw`, cold.py). The stage keeps the records its recent
batches touched hot and freezes the rest at the end of each batch; an event about a cold record thaws it (~30 µs,
where a store read is a query), decoded as a row loaded from the store is.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from datetime import date

import orjson

from services.alerts import cold, facts_codec
from services.alerts.alerting import AlertBook
from services.alerts.child_state import NO_SOURCES, ChildState
from services.alerts.domain import linking
from services.alerts.domain.profile import merge_group
from services.alerts.domain.rules import RuleConfig
from services.alerts.store import AlertsStore
from services.common.calendar import CalendarRegistry
from services.common.commit_gate import CommitGate

_SEP = b"\x1e"  # between a cold record's JSON values: JSON text never holds a raw control character
_CODES = ("la_code", "school_urn", "year_group", "sen_status")


def _shared_codes(profile: dict) -> dict:
    """A profile as read back, its codes as shared strings (facts_codec.shared_code), as events give them."""
    for field in _CODES:
        if field in profile:
            profile[field] = facts_codec.shared_code(profile[field])
    for field in ("la_codes", "sen_needs"):
        if type(values := profile.get(field)) is list:
            profile[field] = [facts_codec.shared_code(v) for v in values]
    return profile


def _shared_stamps(times: dict) -> dict:
    """A record's field times as read back, equal stamps as one list and equal strings as one string: most
    fields were last set by the same event, and orjson makes a new list and strings for each (~700 bytes a
    record). Safe to share: times are replaced, never changed in place (domain/profile.py)."""
    lists: dict[tuple, list] = {}
    strings: dict[str, str] = {}
    out = {}
    for field, stamp in times.items():
        stamp = [strings.setdefault(x, x) if type(x) is str else x for x in stamp]
        out[field] = lists.setdefault(tuple(stamp), stamp)
    return out


def row_values(state: ChildState) -> tuple[str, str, bytes]:
    """A record's profile, field times and facts as its store row holds them."""
    facts = facts_codec.encode(state.years, state.incidents, state.records, state.steps)
    return orjson.dumps(state.profile).decode(), orjson.dumps(state.times).decode(), facts


def state_of_row(cid: str, row: dict, sources: Iterable[str]) -> ChildState:
    """A record as its store row (or its cold copy) gives it."""
    link = linking.Link(row["merged_into"], row["link_kind"] if row["merged_into"] else None)
    years, incidents, records, steps = facts_codec.decode_all(row["facts"])
    return ChildState(cid, _shared_codes(orjson.loads(row["profile"])), _shared_stamps(orjson.loads(row["profile_times"] or "{}")), link,
                      frozenset(sources) if sources else NO_SOURCES, years, incidents, records, steps, next_check=row.get("next_check"),
                      version=row["version"]).share_empty_facts()  # fmt: skip


def freeze(state: ChildState, values: tuple[str, str, bytes] | None = None) -> bytes:
    """A stored record (not changed since its last write) as one compressed bytes object; `values`: its
    `row_values` when the batch has just written them (a catch-up batch freezes most of the records it wrote)."""
    profile, times, facts = values or row_values(state)
    meta = orjson.dumps([state.link.target, state.link.kind, sorted(state.sources), state.next_check, state.version])
    return cold.deflate(_SEP.join((profile.encode(), times.encode(), facts, meta)), cold.RECORD_DICT)


def thaw(cid: str, frozen: bytes) -> ChildState:
    profile, times, facts, meta = cold.inflate(frozen, cold.RECORD_DICT).split(_SEP)
    target, kind, sources, next_check, version = orjson.loads(meta)
    row = {"profile": profile, "profile_times": times, "facts": facts, "merged_into": target, "link_kind": kind,
           "next_check": date.fromisoformat(next_check) if next_check else None, "version": version}  # fmt: skip
    return state_of_row(cid, row, sources)


class Records:
    store: AlertsStore
    calendars: CalendarRegistry
    rules: RuleConfig
    book: AlertBook
    today: date
    children: dict[str, ChildState]  # hot: in the order last touched
    cold: dict[str, bytes]  # frozen (`freeze`), in the order frozen
    absent: set[str]
    changed: set[str]
    sole_owner: bool
    gate: CommitGate

    def _load(self, ids: AbstractSet[str]) -> None:
        missing = [c for c in ids if c not in self.children and c not in self.absent]
        if not missing:
            return
        if self.cold:
            for cid in missing:
                if (frozen := self.cold.pop(cid, None)) is not None:
                    self.children[cid] = thaw(cid, frozen)
            missing = [c for c in missing if c not in self.children]
            if not missing:
                return
        rows = self.store.children(missing)
        sources = self.store.sources_of(list(rows))
        for cid in missing:
            row = rows.get(cid)
            if row is None:
                self.absent.add(cid)
                if self.sole_owner:  # the only writer of child alerts: a record not stored yet has none
                    self.book.none_yet((cid,))
                continue
            self.children[cid] = state_of_row(cid, row, sources.get(cid, NO_SOURCES))

    def _changed(self, state: ChildState) -> None:
        """The record is to be written at the end of the batch."""
        self.changed.add(state.child_id)

    def _state(self, cid: str) -> ChildState | None:
        if cid not in self.children:
            self._load({cid})
        return self.children.get(cid)

    def _root(self, cid: str) -> str:
        seen = {cid}
        while (state := self._state(cid)) is not None and state.link.target and state.link.target not in seen:
            cid = state.link.target
            seen.add(cid)
        return cid

    def _members(self, root: str) -> list[ChildState]:
        """The root's record first, then every record linked into it (directly or not)."""
        out, stack, seen = [], [root], set()
        while stack:
            cid = stack.pop()
            state = self._state(cid)
            if state is None or cid in seen:
                continue
            seen.add(cid)
            out.append(state)
            self._load(state.sources)
            stack.extend(sorted(state.sources, reverse=True))
        return out

    def profile_of(self, cid: str) -> dict | None:
        """The profile alert messages carry for a child subject (None if the record is unknown)."""
        return self._group_profile(cid) if self._state(cid) is not None else None

    def _group_profile(self, cid: str) -> dict:
        """The record's profile merged with every record linked into it (its id, UPN and names stay)."""
        return merge_group([(m.profile, m.times) for m in self._members(cid)])
