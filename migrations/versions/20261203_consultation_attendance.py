"""Consultation attendance the coordinator records: an assigned expert who took part
without signing in has no user; ``recorded_by`` names who recorded the attendance.

Revision ID: 20261203_consultation_attendance
Revises: 20261203_advisor
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '20261203_consultation_attendance'
down_revision: str | None = '20261203_advisor'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('consultation_attendance', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recorded_by', sa.String(length=64), server_default='',
                                      nullable=False))
        batch_op.alter_column('user_id', existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM consultation_attendance WHERE user_id IS NULL")
    with op.batch_alter_table('consultation_attendance', schema=None) as batch_op:
        batch_op.alter_column('user_id', existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column('recorded_by')
