"""Settlement: coverage, settlements with their slips and history, accumulators, payments.

Revision ID: 20261201_settlement
Revises: 20261201_notify
Create Date: 2026-12-01 07:12:54.449555
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import yilian.db

revision: str = '20261201_settlement'
down_revision: str | None = '20261201_notify'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('coverage',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('insured_region_code', sa.String(length=6), nullable=False),
    sa.Column('scheme', sa.Enum('employee', 'resident', name='insurancescheme', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('card_number', sa.String(length=32), nullable=False),
    sa.Column('filing', sa.Enum('filed', 'referral', 'emergency', 'none', name='filing', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('filed_region_code', sa.String(length=6), nullable=False),
    sa.Column('created_at', yilian.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', yilian.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_coverage_person_id_person')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_coverage')),
    sa.UniqueConstraint('person_id', name=op.f('uq_coverage_person_id'))
    )
    op.create_table('settlement_accumulator',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('hifp_pay', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('hifmi_pay', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('hifmi_base', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('admissions', sa.Integer(), nullable=False),
    sa.Column('updated_at', yilian.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_settlement_accumulator_person_id_person')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_settlement_accumulator')),
    sa.UniqueConstraint('person_id', 'year', name=op.f('uq_settlement_accumulator_person_id_year'))
    )
    op.create_table('settlement',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=64), nullable=False),
    sa.Column('bill_hash', sa.String(length=64), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('settled', 'reversed', name='settlementstatus', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('insured_region_code', sa.String(length=6), nullable=False),
    sa.Column('fund_region_code', sa.String(length=6), nullable=False),
    sa.Column('treatment_region_code', sa.String(length=6), nullable=False),
    sa.Column('scheme', sa.Enum('employee', 'resident', name='insurancescheme', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('filing', sa.Enum('filed', 'referral', 'emergency', 'none', name='filing', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('admission_date', sa.Date(), nullable=False),
    sa.Column('discharge_date', sa.Date(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('settled_month', sa.String(length=7), nullable=False),
    sa.Column('policy_version', sa.String(length=128), nullable=False),
    sa.Column('catalogue_version', sa.String(length=128), nullable=False),
    sa.Column('medfee_sumamt', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('hifp_pay', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('hifmi_pay', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('hifmi_base', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('fund_pay_sumamt', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('psn_part_amt', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('acct_pay', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('psn_cash_pay', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('bill', sa.JSON(), nullable=False),
    sa.Column('slip', sa.JSON(), nullable=False),
    sa.Column('settled_at', yilian.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('settled_by', sa.String(length=64), nullable=False),
    sa.Column('reversed_at', yilian.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reversal_reason', sa.Enum('billing_error', 'wrong_patient', 'wrong_filing', 'discharge_cancelled', 'other', name='reversalreason', native_enum=False, create_constraint=True, length=24), nullable=True),
    sa.Column('paid_at', yilian.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['institution_id'], ['institution.id'], name=op.f('fk_settlement_institution_id_institution')),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_settlement_person_id_person')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_settlement')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_settlement_idempotency_key'))
    )
    with op.batch_alter_table('settlement', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_settlement_institution_id'), ['institution_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_settlement_person_id'), ['person_id'], unique=False)
        batch_op.create_index('ix_settlement_fund_region_month', ['fund_region_code', 'settled_month'], unique=False)

    op.create_table('settlement_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('settlement_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('settled', 'reversed', 'paid', name='settlementeventkind', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('hifp_pay_change', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('hifmi_pay_change', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('admissions_change', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Enum('billing_error', 'wrong_patient', 'wrong_filing', 'discharge_cancelled', 'other', name='reversalreason', native_enum=False, create_constraint=True, length=24), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('created_at', yilian.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['settlement_id'], ['settlement.id'], name=op.f('fk_settlement_event_settlement_id_settlement')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_settlement_event'))
    )
    with op.batch_alter_table('settlement_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_settlement_event_settlement_id'), ['settlement_id'], unique=False)

    op.create_table('settlement_payment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('settlement_id', sa.Integer(), nullable=False),
    sa.Column('receipt_no', sa.String(length=32), nullable=False),
    sa.Column('amount', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('method', sa.Enum('self_service', 'cashier', name='paymentmethod', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('paid_at', yilian.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('paid_by', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['settlement_id'], ['settlement.id'], name=op.f('fk_settlement_payment_settlement_id_settlement')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_settlement_payment')),
    sa.UniqueConstraint('receipt_no', name=op.f('uq_settlement_payment_receipt_no')),
    sa.UniqueConstraint('settlement_id', name=op.f('uq_settlement_payment_settlement_id'))
    )


def downgrade() -> None:
    op.drop_table('settlement_payment')
    with op.batch_alter_table('settlement_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_settlement_event_settlement_id'))

    op.drop_table('settlement_event')
    with op.batch_alter_table('settlement', schema=None) as batch_op:
        batch_op.drop_index('ix_settlement_fund_region_month')
        batch_op.drop_index(batch_op.f('ix_settlement_person_id'))
        batch_op.drop_index(batch_op.f('ix_settlement_institution_id'))

    op.drop_table('settlement')
    op.drop_table('settlement_accumulator')
    op.drop_table('coverage')
