"""Settlement: medical assistance (coverage category, maf_pay on slips and accumulators),
the month of a reversal (clearing adjustments), refunds after a reversal.

Revision ID: 20261202_settlement
Revises: 20261202_results
Create Date: 2026-12-01 10:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import yilian.db

revision: str = '20261202_settlement'
down_revision: str | None = '20261202_results'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ASSISTANCE = sa.Enum('none', 'extreme_poverty', 'subsistence', name='assistancecategory',
                     native_enum=False, create_constraint=True, length=24)


def upgrade() -> None:
    with op.batch_alter_table('coverage', schema=None) as batch_op:
        batch_op.add_column(sa.Column('assistance', ASSISTANCE, nullable=False,
                                      server_default='none'))
    with op.batch_alter_table('coverage', schema=None) as batch_op:
        batch_op.alter_column('assistance', server_default=None)
    for table, column in (('settlement_accumulator', 'maf_pay'), ('settlement', 'maf_pay'),
                          ('settlement_event', 'maf_pay_change')):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column(column, sa.Numeric(precision=14, scale=2),
                                          nullable=False, server_default='0'))
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(column, server_default=None)
    with op.batch_alter_table('settlement', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reversed_month', sa.String(length=7), nullable=True))
        batch_op.create_index('ix_settlement_fund_region_reversed_month',
                              ['fund_region_code', 'reversed_month'], unique=False)
    # Reversals made before this revision took their settlement out of its own month's
    # clearing: dating them in that month keeps those reports as they were.
    op.execute(
        "UPDATE settlement SET reversed_month = settled_month WHERE reversed_at IS NOT NULL"
    )
    op.create_table('settlement_refund',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('payment_id', sa.Integer(), nullable=False),
    sa.Column('settlement_id', sa.Integer(), nullable=False),
    sa.Column('refund_no', sa.String(length=32), nullable=False),
    sa.Column('amount', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('method', sa.Enum('self_service', 'cashier', name='paymentmethod', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('refunded_at', yilian.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('refunded_by', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['payment_id'], ['settlement_payment.id'], name=op.f('fk_settlement_refund_payment_id_settlement_payment')),
    sa.ForeignKeyConstraint(['settlement_id'], ['settlement.id'], name=op.f('fk_settlement_refund_settlement_id_settlement')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_settlement_refund')),
    sa.UniqueConstraint('payment_id', name=op.f('uq_settlement_refund_payment_id')),
    sa.UniqueConstraint('refund_no', name=op.f('uq_settlement_refund_refund_no'))
    )
    with op.batch_alter_table('settlement_refund', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_settlement_refund_settlement_id'), ['settlement_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('settlement_refund', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_settlement_refund_settlement_id'))
    op.drop_table('settlement_refund')
    with op.batch_alter_table('settlement', schema=None) as batch_op:
        batch_op.drop_index('ix_settlement_fund_region_reversed_month')
        batch_op.drop_column('reversed_month')
        batch_op.drop_column('maf_pay')
    with op.batch_alter_table('settlement_event', schema=None) as batch_op:
        batch_op.drop_column('maf_pay_change')
    with op.batch_alter_table('settlement_accumulator', schema=None) as batch_op:
        batch_op.drop_column('maf_pay')
    with op.batch_alter_table('coverage', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_coverage_assistancecategory'), type_='check')
        batch_op.drop_column('assistance')
