"""Shared results and mutual recognition: catalogue, HR qualifications, reports with their
values and images, recognition decisions and the savings ledger.

Revision ID: 20261201_results
Revises: 20261201_settlement
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '20261201_results'
down_revision: str | None = '20261201_settlement'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('recognition_item',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('name_en', sa.String(length=128), nullable=False),
    sa.Column('category', sa.Enum('lab', 'exam', name='itemcategory', native_enum=False, create_constraint=True, length=8), nullable=False),
    sa.Column('item_group', sa.String(length=32), nullable=False),
    sa.Column('loinc', sa.String(length=16), nullable=False),
    sa.Column('specimen', sa.String(length=32), nullable=False),
    sa.Column('modality', sa.String(length=16), nullable=False),
    sa.Column('body_site', sa.String(length=32), nullable=False),
    sa.Column('validity_days', sa.Integer(), nullable=False),
    sa.Column('price', sa.Numeric(precision=10, scale=2), nullable=False),
    sa.Column('scopes', sa.String(length=64), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recognition_item')),
    sa.UniqueConstraint('code', name=op.f('uq_recognition_item_code'))
    )
    with op.batch_alter_table('recognition_item', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recognition_item_item_group'), ['item_group'], unique=False)
        batch_op.create_index(batch_op.f('ix_recognition_item_loinc'), ['loinc'], unique=False)

    op.create_table('result_qualification',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('item_code', sa.String(length=32), nullable=False),
    sa.Column('item_group', sa.String(length=32), nullable=False),
    sa.Column('scope', sa.Enum('national', 'province', 'city', 'consortium', name='hrscope', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=False),
    sa.Column('eqa_reference', sa.String(length=128), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['institution_id'], ['institution.id'], name=op.f('fk_result_qualification_institution_id_institution')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_result_qualification'))
    )
    with op.batch_alter_table('result_qualification', schema=None) as batch_op:
        batch_op.create_index('ix_result_qualification_institution_item', ['institution_id', 'item_code'], unique=False)

    op.create_table('diagnostic_report',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.Column('department_name', sa.String(length=64), nullable=False),
    sa.Column('item_code', sa.String(length=32), nullable=False),
    sa.Column('category', sa.Enum('lab', 'exam', name='itemcategory', native_enum=False, create_constraint=True, length=8), nullable=False),
    sa.Column('accession', sa.String(length=64), nullable=False),
    sa.Column('performed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.Enum('final', 'corrected', 'entered-in-error', name='reportstatus', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('conclusion', sa.Text(), nullable=False),
    sa.Column('supersedes_id', sa.Integer(), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['department_id'], ['department.id'], name=op.f('fk_diagnostic_report_department_id_department')),
    sa.ForeignKeyConstraint(['institution_id'], ['institution.id'], name=op.f('fk_diagnostic_report_institution_id_institution')),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_diagnostic_report_person_id_person')),
    sa.ForeignKeyConstraint(['supersedes_id'], ['diagnostic_report.id'], name=op.f('fk_diagnostic_report_supersedes_id_diagnostic_report')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_diagnostic_report'))
    )
    with op.batch_alter_table('diagnostic_report', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_diagnostic_report_institution_id'), ['institution_id'], unique=False)
        batch_op.create_index('ix_diagnostic_report_person_item_performed', ['person_id', 'item_code', 'performed_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_diagnostic_report_supersedes_id'), ['supersedes_id'], unique=False)

    op.create_table('imaging_study',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=False),
    sa.Column('study_uid', sa.String(length=64), nullable=False),
    sa.Column('modality', sa.String(length=16), nullable=False),
    sa.Column('body_site', sa.String(length=32), nullable=False),
    sa.Column('viewer_url', sa.String(length=512), nullable=False),
    sa.ForeignKeyConstraint(['report_id'], ['diagnostic_report.id'], name=op.f('fk_imaging_study_report_id_diagnostic_report'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_imaging_study'))
    )
    with op.batch_alter_table('imaging_study', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_imaging_study_report_id'), ['report_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_imaging_study_study_uid'), ['study_uid'], unique=False)

    op.create_table('observation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('code_system', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('value', sa.String(length=256), nullable=False),
    sa.Column('value_number', sa.Numeric(precision=18, scale=6), nullable=True),
    sa.Column('unit', sa.String(length=32), nullable=False),
    sa.Column('reference_range', sa.String(length=64), nullable=False),
    sa.Column('reference_low', sa.Numeric(precision=18, scale=6), nullable=True),
    sa.Column('reference_high', sa.Numeric(precision=18, scale=6), nullable=True),
    sa.Column('abnormal_flag', sa.Enum('N', 'L', 'H', 'LL', 'HH', 'A', name='abnormalflag', native_enum=False, create_constraint=True, length=4), nullable=True),
    sa.ForeignKeyConstraint(['report_id'], ['diagnostic_report.id'], name=op.f('fk_observation_report_id_diagnostic_report'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_observation'))
    )
    with op.batch_alter_table('observation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_observation_report_id'), ['report_id'], unique=False)

    op.create_table('recognition_decision',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('ordering_institution_id', sa.Integer(), nullable=False),
    sa.Column('item_code', sa.String(length=32), nullable=False),
    sa.Column('decision', sa.Enum('accepted', 'retest', name='decision', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Enum('condition_changed', 'fast_changing', 'critical_care', 'emergency', 'appraisal', 'other', name='retestreason', native_enum=False, create_constraint=True, length=24), nullable=True),
    sa.Column('reason_text', sa.String(length=500), nullable=False),
    sa.Column('decided_by', sa.String(length=64), nullable=False),
    sa.Column('decided_by_user_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['decided_by_user_id'], ['app_user.id'], name=op.f('fk_recognition_decision_decided_by_user_id_app_user')),
    sa.ForeignKeyConstraint(['ordering_institution_id'], ['institution.id'], name=op.f('fk_recognition_decision_ordering_institution_id_institution')),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_recognition_decision_person_id_person')),
    sa.ForeignKeyConstraint(['report_id'], ['diagnostic_report.id'], name=op.f('fk_recognition_decision_report_id_diagnostic_report')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recognition_decision'))
    )
    with op.batch_alter_table('recognition_decision', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recognition_decision_ordering_institution_id'), ['ordering_institution_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_recognition_decision_person_id'), ['person_id'], unique=False)

    op.create_table('recognition_saving',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('decision_id', sa.Integer(), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('item_code', sa.String(length=32), nullable=False),
    sa.Column('amount', sa.Numeric(precision=10, scale=2), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['decision_id'], ['recognition_decision.id'], name=op.f('fk_recognition_saving_decision_id_recognition_decision')),
    sa.ForeignKeyConstraint(['institution_id'], ['institution.id'], name=op.f('fk_recognition_saving_institution_id_institution')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recognition_saving')),
    sa.UniqueConstraint('decision_id', name=op.f('uq_recognition_saving_decision_id'))
    )
    with op.batch_alter_table('recognition_saving', schema=None) as batch_op:
        batch_op.create_index('ix_recognition_saving_institution_month', ['institution_id', 'month'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('recognition_saving', schema=None) as batch_op:
        batch_op.drop_index('ix_recognition_saving_institution_month')

    op.drop_table('recognition_saving')
    with op.batch_alter_table('recognition_decision', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recognition_decision_person_id'))
        batch_op.drop_index(batch_op.f('ix_recognition_decision_ordering_institution_id'))

    op.drop_table('recognition_decision')
    with op.batch_alter_table('observation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_observation_report_id'))

    op.drop_table('observation')
    with op.batch_alter_table('imaging_study', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_imaging_study_study_uid'))
        batch_op.drop_index(batch_op.f('ix_imaging_study_report_id'))

    op.drop_table('imaging_study')
    with op.batch_alter_table('diagnostic_report', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_diagnostic_report_supersedes_id'))
        batch_op.drop_index('ix_diagnostic_report_person_item_performed')
        batch_op.drop_index(batch_op.f('ix_diagnostic_report_institution_id'))

    op.drop_table('diagnostic_report')
    with op.batch_alter_table('result_qualification', schema=None) as batch_op:
        batch_op.drop_index('ix_result_qualification_institution_item')

    op.drop_table('result_qualification')
    with op.batch_alter_table('recognition_item', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recognition_item_loinc'))
        batch_op.drop_index(batch_op.f('ix_recognition_item_item_group'))

    op.drop_table('recognition_item')
