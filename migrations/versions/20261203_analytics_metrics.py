"""Network analytics: the outflow aggregate (admissions by insured region) and the monthly
metric aggregate (referrals, consultations, clinics, recognition, settlement).

Revision ID: 20261203_analytics_metrics
Revises: 20261202_analytics
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '20261203_analytics_metrics'
down_revision: str | None = '20261202_analytics'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

METRIC_CODES = ('referral', 'referral_response', 'referral_deadline', 'green_channel',
                'consultation', 'consultation_outcome', 'clinic', 'expert_days',
                'tests_avoided', 'settlement')


def upgrade() -> None:
    op.create_table('outflow_month',
    sa.Column('insured_region_code', sa.String(length=6), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('department_key', sa.Integer(), nullable=False),
    sa.Column('admissions', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['institution_id'], ['institution.id'], name=op.f('fk_outflow_month_institution_id_institution')),
    sa.PrimaryKeyConstraint('insured_region_code', 'month', 'institution_id', 'department_key', name=op.f('pk_outflow_month'))
    )
    op.create_table('metric_month',
    sa.Column('metric', sa.Enum(*METRIC_CODES, name='metriccode', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('counterpart_key', sa.Integer(), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('specialty', sa.String(length=64), nullable=False),
    sa.Column('bucket', sa.Integer(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('amount', sa.Numeric(precision=16, scale=2), nullable=False),
    sa.ForeignKeyConstraint(['institution_id'], ['institution.id'], name=op.f('fk_metric_month_institution_id_institution')),
    sa.PrimaryKeyConstraint('metric', 'month', 'institution_id', 'counterpart_key', 'category', 'specialty', 'bucket', name=op.f('pk_metric_month'))
    )


def downgrade() -> None:
    op.drop_table('metric_month')
    op.drop_table('outflow_month')
