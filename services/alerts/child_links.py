"""The child stage's links between records: made and undone only here (the API records a person's
decision; the stage applies it), each with its candidate row, audit entry and ChildLinkChanged message.
"""

from __future__ import annotations

from schemas.children import ChildLinkChanged, ChildProfile
from schemas.topics import (
    CHILD_LINKS,
)
from services.alerts.alerting import SOURCE
from services.alerts.child_events import Batch
from services.alerts.child_records import Records
from services.alerts.child_state import ChildState, StageResult
from services.alerts.domain import linking
from services.common.messages import Outgoing, outgoing


class LinkWork(Records):
    """ChildStage's link methods (mixed in: they read and change the stage's records)."""

    def _set_link(self, change: linking.LinkChange, b: Batch, decision_id: str | None = None) -> None:
        """Count `source` as `target` (or as itself again): the records' states follow the snapshot's decision."""
        self._load({change.source} | {c for c in (change.target, change.previous) if c})
        source = self._state(change.source)
        if source is None:
            return
        old = self._state(change.previous) if change.previous else None
        new = self._state(change.target) if change.target else None
        if old is not None:
            b.touched.add(self._root(old.child_id))
            old.sources = old.sources - {change.source}
        source.link = linking.Link(change.target, change.kind if change.target else None)
        self._changed(source)
        if new is not None:
            new.sources = new.sources | {change.source}
        b.touched.add(change.source)
        b.links.append((change, decision_id))

    def _apply_decision(self, row: dict, snapshot: linking.Snapshot, b: Batch, result: StageResult) -> None:
        """A person's decision on a candidate, recorded by the API: apply it to the link."""
        decision = linking.Decision(row["child_id"], row["candidate_child_id"], {"confirmed": "confirm", "rejected": "reject", "undone": "undo"}[row["status"]],
                                    row["decided_by"] or "a person")  # fmt: skip
        keys = [a.person_key for a in snapshot.aliases() if a.child_id == row["child_id"] and a.upn is None]
        for change in linking.apply_decision(decision, snapshot, keys):
            self._set_link(change, b, row["id"] if {change.source, change.target or change.previous} == {row["child_id"], row["candidate_child_id"]} else None)
        result.writes.candidate_updates.setdefault(row["id"], {})["applied"] = True

    def _finish_links(self, b: Batch, result: StageResult) -> list[Outgoing]:
        """Candidate rows, audit and a ChildLinkChanged message for every link made or undone in the batch."""
        if not b.links:
            return []
        pairs = {linking.candidate_id(ch.source, ch.target or ch.previous or "") for ch, _ in b.links}
        rows = self.store.candidates_by_ids(sorted(pairs))
        messages = []
        for change, decision_id in b.links:
            other = change.target or change.previous
            if other is None:
                continue
            cand_id = linking.candidate_id(change.source, other)
            row = rows.get(cand_id)
            updates = result.writes.candidate_updates.setdefault(cand_id, {})
            if change.kind == "auto" or decision_id is None:
                version = (updates.get("version") or (row["version"] if row else 0)) + 1
                status = "confirmed" if change.target else "pending"
                values = {"status": status, "decided_by": "signpost" if change.target else None, "decided_at": b.now if change.target else None,
                          "note": None, "version": version, "applied": True, "reason": change.reason[:100]}  # fmt: skip
                if row is None and cand_id not in result.writes.candidates:
                    source = self._state(change.source)
                    target = self._state(other)
                    result.writes.candidates[cand_id] = {
                        "id": cand_id, "child_id": change.source, "candidate_child_id": other, "la_code": _la(source), "candidate_la_code": _la(target),
                        "created_at": b.now, "urgent": False, "urgent_reason": None, **values,
                    }  # fmt: skip
                    rows[cand_id] = result.writes.candidates[cand_id]
                else:
                    updates.update(values)
            else:
                version = row["version"] if row else 1
            by = "signpost" if change.kind == "auto" else (row or {}).get("decided_by") or "a person"
            result.writes.audit.append({"at": b.now, "principal": by, "action": "link_children" if change.target else "unlink_children",
                                        "object_kind": "child", "object_id": change.source, "child_id": other, "detail": change.reason[:200]})  # fmt: skip
            payload = ChildLinkChanged(
                link_id=cand_id, source_child_id=change.source, target_child_id=other, linked=change.target is not None, by=by, reason=change.reason,
                at=b.now, version=version, child=ChildProfile(**self._group_profile(other)), source_child=ChildProfile(**self._group_profile(change.source)),
            )  # fmt: skip
            messages.append(outgoing(CHILD_LINKS, other, f"{cand_id}:v{version}", payload, SOURCE, subject=other))
        return messages


def _la(state: ChildState | None) -> str:
    return (state.profile.get("la_code") if state else None) or "000"
