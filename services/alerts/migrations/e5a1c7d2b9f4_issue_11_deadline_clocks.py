"""issue 11 (items 1-3): an alert's statutory deadline, and the day a child's deadline clocks change

Revision ID: e5a1c7d2b9f4
Revises: e6b2d94c1a07
Create Date: 2026-11-30 02:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = 'e5a1c7d2b9f4'
down_revision = 'e6b2d94c1a07'  # after the grey-exclusion columns (both issue 11)
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('alerts_alerts') as batch_op:
        batch_op.add_column(sa.Column('due_on', sa.Date(), nullable=True))
    with op.batch_alter_table('alerts_children') as batch_op:
        batch_op.add_column(sa.Column('next_check', sa.Date(), nullable=True))
        batch_op.create_index('ix_alerts_children_next_check', ['next_check'])


def downgrade() -> None:
    with op.batch_alter_table('alerts_children') as batch_op:
        batch_op.drop_index('ix_alerts_children_next_check')
        batch_op.drop_column('next_check')
    with op.batch_alter_table('alerts_alerts') as batch_op:
        batch_op.drop_column('due_on')
