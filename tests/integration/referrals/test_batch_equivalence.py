"""A batch through the desk changes exactly what its messages applied one at a time change: every
table, every outbox message, in the same order. The desk reads a batch set-wise (batch_reads.py), so
this is the net under it: a mixed history with duplicates, replays, several changes of one child in a
batch, links, an undo, consents by call and by a person, applied in batches of 1, 7 and all."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import orjson
import pytest
from sqlalchemy import Engine, delete, event, select

from services.common.calendar import load_registry
from services.referrals import batch_reads
from services.referrals import tables as t
from services.referrals.desk import DeskResult, ReferralDesk
from services.referrals.inputs import ConsentRecorded, Input
from services.referrals.policy import Policy, load_policy

from .builders import AUTISTIC, NON_SEND, NOW, SEND, alert, call, link, notice, profile, return_record

pytestmark = pytest.mark.integration

CALENDARS = load_registry()
SERIAL = {t.history.name: "id", t.outbox.name: "seq", t.audit.name: "id"}  # autoincrement: compared by order, not value
RULES = [("suspension_days_nearing_limit", "warning"), ("suspension_days_limit_exceeded", "critical"),
         ("informal_exclusions_repeated", "high")]  # fmt: skip


def mixed_history(seed: int) -> list[Input]:
    """Alert lifecycles for several children (raised, evidence, updated, resolved), child events, calls
    with consent, a person's consent, a link and its undo; some messages twice, some older versions late."""
    rng = random.Random(seed)
    kids = [profile(**rng.choice([NON_SEND, SEND, AUTISTIC])) for _ in range(6)]
    items: list[Input] = []
    for kid in kids:
        for rule, severity in rng.sample(RULES, 2):
            alert_id = f"al-{kid['child_id']}-{rule[:8]}"
            changes = ["raised", "evidence", "updated", "status"][: rng.randint(1, 4)]
            for version, change in enumerate(changes, start=1):
                status = "resolved" if change == "status" else "open"
                items.append(alert(kid, rule, change=change, alert_id=alert_id, status=status, severity=severity, version=version,
                                   at=NOW + timedelta(minutes=version)))
        items.append(rng.choice([notice(kid), return_record(kid), notice(kid, category="suspension")]))
    rng.shuffle(items)
    items.sort(key=lambda i: getattr(getattr(i, "alert", None), "version", 0))  # an alert's versions in order, mostly
    for _ in range(8):  # duplicates and late replays
        items.insert(rng.randrange(len(items)), rng.choice(items))
    a, b, c = kids[0], kids[1], kids[2]
    items.insert(len(items) // 3, call(a, received_by="nas", concerns=("other",), share_with_nas=True, at=NOW + timedelta(hours=1)))
    items.insert(len(items) // 2, link(a, b, link_id="cand-ab", at=NOW + timedelta(hours=2)))
    items.insert(len(items) // 2 + 1, link(a, b, link_id="cand-ab", at=NOW + timedelta(hours=2)))  # a replayed link
    linked_at = len(items) // 2 + 2  # alerts of linked records: the group's profile, ledger and referrals decide
    items[linked_at:linked_at] = [alert(a, "informal_exclusions_repeated", severity="high", alert_id=f"al-{a['child_id']}-linked", at=NOW + timedelta(hours=2)),
                                  alert(b, "suspension_days_nearing_limit", alert_id=f"al-{b['child_id']}-linked", at=NOW + timedelta(hours=2))]
    items.insert(2 * len(items) // 3, ConsentRecorded(c["child_id"], "nas", "consent", "test-inclusion_team", NOW + timedelta(hours=3)))
    items.insert(3 * len(items) // 4, link(a, b, link_id="cand-ab", linked=False, version=2, at=NOW + timedelta(hours=4)))
    items.append(alert(c, "informal_exclusions_repeated", severity="high", at=NOW + timedelta(hours=5)))  # after c's consent
    return items


def snapshot(engine: Engine) -> dict[str, list[tuple]]:
    """Every table's rows: serial tables in insertion order without their serial, the others sorted."""
    out: dict[str, list[tuple]] = {}
    with engine.connect() as conn:
        for table in t.metadata.sorted_tables:
            serial = SERIAL.get(table.name)
            if serial is None:
                out[table.name] = sorted(tuple(map(repr, row)) for row in conn.execute(select(table)))
            else:
                cols = [c for c in table.c if c.name != serial]
                out[table.name] = [_stable(dict(zip([c.name for c in cols], row, strict=True))) for row in conn.execute(select(*cols).order_by(table.c[serial]))]
    return out


def _stable(row: dict) -> tuple:
    """A row without the outbox's ce_time header (the wall clock when the message was built)."""
    if "headers" in row:
        row["headers"] = [h for h in orjson.loads(row["headers"]) if h[0] != "ce_time"]
    return tuple(map(repr, row.values()))


def wipe(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in reversed(t.metadata.sorted_tables):
            conn.execute(delete(table))


def run(engine: Engine, items: list[Input], size: int, policy: Policy | None = None) -> tuple[dict, list]:
    wipe(engine)
    desk = ReferralDesk(engine, lambda: policy or load_policy(), CALENDARS)
    outcomes: list[DeskResult] = []
    for start in range(0, len(items), size):
        outcomes.append(desk.handle(items[start : start + size], NOW + timedelta(days=1)))
    flat = [(c.referral_id, c.change, c.status) for o in outcomes for c in o.changes]
    counts = [sorted(h for o in outcomes for h in o.held), sum(o.released for o in outcomes)]
    return snapshot(engine), [flat, counts]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_batches_of_any_size_change_what_one_at_a_time_changes(engine: Engine, seed: int) -> None:
    items = mixed_history(seed)
    one_by_one, outcome = run(engine, items, 1)
    assert len(one_by_one[t.outbox.name]) > 10 and one_by_one[t.held.name] and one_by_one[t.links.name]  # the history exercises the desk
    for size in (7, len(items)):
        assert run(engine, items, size) == (one_by_one, outcome), f"batches of {size}"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_with_webhooks_the_deliveries_too_are_what_one_at_a_time_makes(engine: Engine, seed: int, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Every receiver with a webhook: a change decided from a batch's snapshot defers its delivery (its
    version known from its own write), and a new referral's LA rows and reason; the same rows result."""
    monkeypatch.setenv("SIGNPOST_TEST_HOOK_SECRET", "whsec_" + "c2lnbnBvc3QtdGVzdHMtb25seS0zMi1ieXRlcy1rZXkh")  # tests only
    text = (Path(t.__file__).parent / "policy.default.yaml").read_text()
    policy = tmp_path / "policy.yaml"
    policy.write_text(text.replace("    webhook: null", "    webhook: {url: http://127.0.0.1:9/hook, secret_env: SIGNPOST_TEST_HOOK_SECRET, max_attempts: 3}"))
    hooks = load_policy(policy)
    items = mixed_history(seed)
    one_by_one, outcome = run(engine, items, 1, hooks)
    assert len(one_by_one[t.deliveries.name]) > 5 and one_by_one[t.reasons.name] and one_by_one[t.referral_las.name]
    for size in (7, len(items)):
        assert run(engine, items, size, hooks) == (one_by_one, outcome), f"batches of {size}"


def test_a_redelivered_batch_changes_nothing_and_sends_nothing_twice(engine: Engine) -> None:
    items = [i for i in mixed_history(4) if not isinstance(i, ConsentRecorded)]  # a person's consent is an HTTP request, not redelivered
    desk = ReferralDesk(engine, lambda: load_policy(), CALENDARS)
    for start in range(0, len(items), 7):
        desk.handle(items[start : start + 7], NOW + timedelta(days=1))
    before = snapshot(engine)
    for start in range(0, len(items), 7):  # the whole stream again, as after a crash before the offsets moved
        again = desk.handle(items[start : start + 7], NOW + timedelta(days=1))
        assert again.messages == [] and again.changes == []
    after = snapshot(engine)
    assert after == before


def test_reads_in_small_chunks_decide_the_same(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """The run's IN lists are chunked (SQLite's parameter limit): chunks of 2 read what one list reads."""
    items = mixed_history(5)
    one_by_one = run(engine, items, 1)
    monkeypatch.setattr(batch_reads, "CHUNK", 2)
    assert run(engine, items, len(items)) == one_by_one


def test_a_batch_reads_each_table_once_not_once_per_message(engine: Engine) -> None:
    """40 children's alerts, then their permanent exclusions, with suspensions between them (they route
    nothing): the profiles, triggers, held reasons, consents and links are read once per segment of
    distinct records, twice for the batch, not once per message."""
    kids = [profile(**SEND) for _ in range(40)]
    items: list[Input] = []
    for kid in kids:
        items += [alert(kid, "suspension_days_nearing_limit"), notice(kid, category="suspension")]
    items += [notice(kid) for kid in kids]
    statements: list[str] = []
    listen = lambda *args: statements.append(args[2])  # noqa: E731 - (conn, cursor, statement, ...)
    event.listen(engine, "before_cursor_execute", listen)
    try:
        result = ReferralDesk(engine, lambda: load_policy(), CALENDARS).handle(items, NOW)
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    assert len(result.changes) >= 80  # every child's alert and notice routed
    for table in (t.profiles, t.triggers, t.held, t.consents, t.links):
        reads = [s for s in statements if s.lstrip().upper().startswith("SELECT") and f"FROM {table.name}" in s]
        assert len(reads) == 2, (table.name, len(reads))
    # the writes: a new referral's LA rows and reason position are known (none), an open one's LA rows
    # come with the snapshot's open referrals; a release the snapshot holds nothing for is not tried
    las_reads = [s for s in statements if s.lstrip().upper().startswith("SELECT") and f"FROM {t.referral_las.name}" in s]
    position_reads = [s for s in statements if s.lstrip().upper().startswith("SELECT") and "max(" in s.lower() and f"FROM {t.reasons.name}" in s
                      and t.referrals.name + "." not in s]  # not the snapshot's subquery (correlated with the open referrals)
    releases = [s for s in statements if s.lstrip().upper().startswith("DELETE FROM") and t.held.name in s]
    assert (las_reads, position_reads, releases) == ([], [], [])
