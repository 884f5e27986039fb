"""the event log by child: an index on msg_key (R-CANCEL reads a child's suspensions; subject access and erasure find a child's events)

Revision ID: a9d3e7c51b26
Revises: 16ce2563ba19
Create Date: 2026-11-30 02:50:00
"""

from alembic import op

revision = 'a9d3e7c51b26'
down_revision = '16ce2563ba19'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('intake_event_log', schema=None) as batch_op:
        batch_op.create_index('ix_intake_event_log_msg_key', ['msg_key'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('intake_event_log', schema=None) as batch_op:
        batch_op.drop_index('ix_intake_event_log_msg_key')
