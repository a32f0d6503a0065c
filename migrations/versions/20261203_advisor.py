"""Where-to-go advisor: settlements keep their discharge diagnosis (2207 dise_codg), so the
advisor's typical bill of a diagnosis group comes from an institution's settled bills.

Revision ID: 20261203_advisor
Revises: 20261203_analytics_metrics
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '20261203_advisor'
down_revision: str | None = '20261203_analytics_metrics'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('settlement', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dise_codg', sa.String(length=16), nullable=True))
        batch_op.create_index('ix_settlement_institution_dise_codg',
                              ['institution_id', 'dise_codg'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('settlement', schema=None) as batch_op:
        batch_op.drop_index('ix_settlement_institution_dise_codg')
        batch_op.drop_column('dise_codg')
