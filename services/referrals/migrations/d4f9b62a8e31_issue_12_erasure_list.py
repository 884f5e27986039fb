"""issue 12: the child ids erased where lawful, which the referrals stage skips when read again

Revision ID: d4f9b62a8e31
Revises: afb7b6bd7e65
Create Date: 2026-11-30 00:05:00
"""

import sqlalchemy as sa
from alembic import op

revision = 'd4f9b62a8e31'
down_revision = 'afb7b6bd7e65'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('referrals_erasures',
                    sa.Column('key', sa.String(length=80), nullable=False),
                    sa.Column('erased_at', sa.DateTime(timezone=True), nullable=False),
                    sa.PrimaryKeyConstraint('key'))


def downgrade() -> None:
    op.drop_table('referrals_erasures')
