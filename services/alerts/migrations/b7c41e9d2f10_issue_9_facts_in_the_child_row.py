"""issue 9: a record's facts in its children row (one write per changed child, not one per fact)

Revision ID: b7c41e9d2f10
Revises: af62331a1471
Create Date: 2026-11-29 23:10:00
"""

from collections import defaultdict

import orjson
import sqlalchemy as sa
from alembic import op

revision = 'b7c41e9d2f10'
down_revision = 'af62331a1471'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('alerts_children', schema=None) as batch_op:
        batch_op.add_column(sa.Column('facts', sa.LargeBinary(), nullable=True))
    # Fold every stored report and incident into its child's row (the format of services/alerts/facts_codec.py).
    conn = op.get_bind()
    suspensions = sa.table('alerts_suspensions', *(sa.column(c) for c in ('key', 'event_id', 'child_id', 'academic_year', 'sessions', 'reported_at',
                                                                          'school_urn', 'la_code', 'start_date')))
    incidents = sa.table('alerts_incidents', *(sa.column(c) for c in ('child_id', 'day', 'event_id', 'school_urn', 'la_code')))
    facts: dict[str, dict] = defaultdict(lambda: {"s": [], "i": []})
    for r in conn.execute(sa.select(suspensions)):
        facts[r.child_id]["s"].append([r.academic_year, r.key, r.event_id, r.sessions, r.reported_at, r.school_urn, r.la_code, str(r.start_date)])
    for r in conn.execute(sa.select(incidents)):
        facts[r.child_id]["i"].append([str(r.day), r.event_id, r.school_urn, r.la_code])
    children = sa.table('alerts_children', sa.column('child_id'), sa.column('facts'))
    for child_id, doc in facts.items():
        conn.execute(sa.update(children).where(children.c.child_id == child_id).values(facts=orjson.dumps(doc)))
    op.drop_table('alerts_suspensions')
    op.drop_table('alerts_incidents')


def downgrade() -> None:
    raise NotImplementedError("issue 9 folded the facts into the children rows: restore a backup to go back")
