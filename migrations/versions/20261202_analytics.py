"""Network analytics: encounters (visits, stays, surgeries) and their monthly aggregate.

Revision ID: 20261202_analytics
Revises: 20261202_consultations
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import yilian.db

revision: str = '20261202_analytics'
down_revision: str | None = '20261202_consultations'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('volume_month',
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('department_key', sa.Integer(), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('kind', sa.Enum('outpatient', 'admission', 'discharge', 'surgery', name='volumekind', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('local', sa.Integer(), nullable=False),
    sa.Column('out_of_region', sa.Integer(), nullable=False),
    sa.Column('unknown_region', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['institution_id'], ['institution.id'], name=op.f('fk_volume_month_institution_id_institution')),
    sa.PrimaryKeyConstraint('institution_id', 'department_key', 'month', 'kind', name=op.f('pk_volume_month'))
    )
    op.create_table('encounter',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('resource_type', sa.String(length=16), nullable=False),
    sa.Column('source_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.Enum('outpatient', 'inpatient', 'surgery', name='encounterkind', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('status', sa.Enum('in-progress', 'finished', 'cancelled', name='encounterstatus', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.Column('started_at', yilian.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ended_at', yilian.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('start_month', sa.String(length=7), nullable=False),
    sa.Column('end_month', sa.String(length=7), nullable=True),
    sa.Column('insured_region_code', sa.String(length=6), nullable=True),
    sa.Column('residence_region_code', sa.String(length=6), nullable=True),
    sa.Column('origin', sa.Enum('local', 'out_of_region', 'unknown', name='patientorigin', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('created_at', yilian.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', yilian.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['department_id'], ['department.id'], name=op.f('fk_encounter_department_id_department')),
    sa.ForeignKeyConstraint(['institution_id'], ['institution.id'], name=op.f('fk_encounter_institution_id_institution')),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_encounter_person_id_person')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_encounter')),
    sa.UniqueConstraint('institution_id', 'resource_type', 'source_id', name=op.f('uq_encounter_institution_id_resource_type_source_id'))
    )
    with op.batch_alter_table('encounter', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_encounter_department_id'), ['department_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_encounter_institution_id'), ['institution_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_encounter_kind'), ['kind'], unique=False)
        batch_op.create_index('ix_encounter_person_id_started_at', ['person_id', 'started_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('encounter', schema=None) as batch_op:
        batch_op.drop_index('ix_encounter_person_id_started_at')
        batch_op.drop_index(batch_op.f('ix_encounter_kind'))
        batch_op.drop_index(batch_op.f('ix_encounter_institution_id'))
        batch_op.drop_index(batch_op.f('ix_encounter_department_id'))

    op.drop_table('encounter')
    op.drop_table('volume_month')
