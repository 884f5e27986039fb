"""issue 11: the 45-day projection on an alert; every report of a school's suspension (R-LA-ALL)

Revision ID: e6b2d94c1a07
Revises: c3e8a51f7d20
Create Date: 2026-11-30 02:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = 'e6b2d94c1a07'
down_revision = 'c3e8a51f7d20'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('alerts_alerts', sa.Column('projected_limit_date', sa.Date(), nullable=True))
    op.create_table('alerts_school_reports',
                    sa.Column('school_urn', sa.String(length=6), nullable=False),
                    sa.Column('term_id', sa.String(length=20), nullable=False),
                    sa.Column('key', sa.String(length=80), nullable=False),
                    sa.Column('event_id', sa.String(length=300), nullable=False),
                    sa.Column('via', sa.String(length=10), nullable=False),
                    sa.Column('reported_at', sa.String(length=40), nullable=False),
                    sa.PrimaryKeyConstraint('school_urn', 'term_id', 'key', 'event_id'))


def downgrade() -> None:
    op.drop_table('alerts_school_reports')
    op.drop_column('alerts_alerts', 'projected_limit_date')
