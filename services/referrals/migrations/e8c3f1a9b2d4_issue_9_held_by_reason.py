"""issue 9: held reasons indexed by reason key (the desk's set-wise reads and a resolved alert's release)

Revision ID: e8c3f1a9b2d4
Revises: d4f9b62a8e31
Create Date: 2026-11-30 13:00:00
"""

from alembic import op

revision = 'e8c3f1a9b2d4'
down_revision = 'd4f9b62a8e31'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_referrals_held_key', 'referrals_held', ['reason_key'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_referrals_held_key', table_name='referrals_held')
