"""issue 12: the keys of children erased where lawful, which the child stage skips when read again

Revision ID: c3e8a51f7d20
Revises: b7c41e9d2f10
Create Date: 2026-11-30 00:05:00
"""

import sqlalchemy as sa
from alembic import op

revision = 'c3e8a51f7d20'
down_revision = 'b7c41e9d2f10'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('alerts_erasures',
                    sa.Column('key', sa.String(length=80), nullable=False),
                    sa.Column('erased_at', sa.DateTime(timezone=True), nullable=False),
                    sa.PrimaryKeyConstraint('key'))


def downgrade() -> None:
    op.drop_table('alerts_erasures')
