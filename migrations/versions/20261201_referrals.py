"""Two-way referral: referrals, their timeline, green-channel clock times, documents, beds.

Revision ID: 20261201_referrals
Revises: 20261201_results
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '20261201_referrals'
down_revision: str | None = '20261201_results'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('bed_census',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=False),
    sa.Column('ward', sa.String(length=64), nullable=False),
    sa.Column('free_beds', sa.Integer(), nullable=False),
    sa.Column('total_beds', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=64), nullable=False),
    sa.CheckConstraint('free_beds >= 0', name=op.f('ck_bed_census_free_beds_not_negative')),
    sa.ForeignKeyConstraint(['department_id'], ['department.id'], name=op.f('fk_bed_census_department_id_department')),
    sa.ForeignKeyConstraint(['institution_id'], ['institution.id'], name=op.f('fk_bed_census_institution_id_institution')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bed_census')),
    sa.UniqueConstraint('department_id', 'ward', name=op.f('uq_bed_census_department_id_ward'))
    )
    with op.batch_alter_table('bed_census', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bed_census_institution_id'), ['institution_id'], unique=False)

    op.create_table('referral',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('referring_institution_id', sa.Integer(), nullable=False),
    sa.Column('referring_department_id', sa.Integer(), nullable=True),
    sa.Column('referring_practitioner_id', sa.Integer(), nullable=True),
    sa.Column('referring_user_id', sa.Integer(), nullable=True),
    sa.Column('target_institution_id', sa.Integer(), nullable=False),
    sa.Column('target_department_id', sa.Integer(), nullable=True),
    sa.Column('target_practitioner_id', sa.Integer(), nullable=True),
    sa.Column('direction', sa.Enum('up', 'down', 'lateral', name='direction', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('direction_override_reason', sa.String(length=500), nullable=False),
    sa.Column('kind', sa.Enum('outpatient', 'inpatient', 'examination', 'rehabilitation', 'follow_up', name='referralkind', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('urgency', sa.Enum('routine', 'urgent', 'emergency', name='urgency', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('green_channel', sa.Enum('chest_pain', 'stroke', 'trauma', 'maternal', 'neonatal', name='emergencycentre', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.Column('diagnosis_code', sa.String(length=16), nullable=False),
    sa.Column('diagnosis_text', sa.String(length=200), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('clinical_summary', sa.Text(), nullable=False),
    sa.Column('consent_recorded', sa.Boolean(), nullable=False),
    sa.Column('consent_note', sa.String(length=200), nullable=False),
    sa.Column('status', sa.Enum('draft', 'requested', 'received', 'accepted', 'rejected', 'ready', 'in-progress', 'completed', 'cancelled', 'failed', name='taskstatus', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('response_due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('responded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('escalated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('response_reason', sa.Text(), nullable=False),
    sa.Column('advice', sa.Text(), nullable=False),
    sa.Column('appointment_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('appointment_place', sa.String(length=200), nullable=False),
    sa.Column('appointment_department_id', sa.Integer(), nullable=True),
    sa.Column('appointment_ref', sa.String(length=64), nullable=False),
    sa.Column('ward', sa.String(length=64), nullable=False),
    sa.Column('bed', sa.String(length=32), nullable=False),
    sa.Column('arrived_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('outcome_summary', sa.Text(), nullable=False),
    sa.Column('follow_up_plan', sa.Text(), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('based_on_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('consent_recorded', name=op.f('ck_referral_consent_required')),
    sa.CheckConstraint('referring_institution_id <> target_institution_id', name=op.f('ck_referral_two_institutions')),
    sa.ForeignKeyConstraint(['appointment_department_id'], ['department.id'], name=op.f('fk_referral_appointment_department_id_department')),
    sa.ForeignKeyConstraint(['based_on_id'], ['referral.id'], name=op.f('fk_referral_based_on_id_referral')),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_referral_person_id_person')),
    sa.ForeignKeyConstraint(['referring_department_id'], ['department.id'], name=op.f('fk_referral_referring_department_id_department')),
    sa.ForeignKeyConstraint(['referring_institution_id'], ['institution.id'], name=op.f('fk_referral_referring_institution_id_institution')),
    sa.ForeignKeyConstraint(['referring_practitioner_id'], ['practitioner.id'], name=op.f('fk_referral_referring_practitioner_id_practitioner')),
    sa.ForeignKeyConstraint(['referring_user_id'], ['app_user.id'], name=op.f('fk_referral_referring_user_id_app_user')),
    sa.ForeignKeyConstraint(['target_department_id'], ['department.id'], name=op.f('fk_referral_target_department_id_department')),
    sa.ForeignKeyConstraint(['target_institution_id'], ['institution.id'], name=op.f('fk_referral_target_institution_id_institution')),
    sa.ForeignKeyConstraint(['target_practitioner_id'], ['practitioner.id'], name=op.f('fk_referral_target_practitioner_id_practitioner')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_referral'))
    )
    with op.batch_alter_table('referral', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_referral_based_on_id'), ['based_on_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_referral_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_referral_direction'), ['direction'], unique=False)
        batch_op.create_index(batch_op.f('ix_referral_person_id'), ['person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_referral_referring_institution_id'), ['referring_institution_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_referral_referring_user_id'), ['referring_user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_referral_response_due_at'), ['response_due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_referral_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_referral_target_department_id'), ['target_department_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_referral_target_institution_id'), ['target_institution_id'], unique=False)
        batch_op.create_index('ix_referral_target_status', ['target_institution_id', 'status'], unique=False)

    op.create_table('referral_clock',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('referral_id', sa.Integer(), nullable=False),
    sa.Column('point', sa.Enum('onset', 'first_contact', 'door', 'ecg', 'ct', 'needle', 'balloon', name='clockpoint', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('recorded_by', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['referral_id'], ['referral.id'], name=op.f('fk_referral_clock_referral_id_referral')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_referral_clock')),
    sa.UniqueConstraint('referral_id', 'point', name=op.f('uq_referral_clock_referral_id_point'))
    )
    with op.batch_alter_table('referral_clock', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_referral_clock_referral_id'), ['referral_id'], unique=False)

    op.create_table('referral_document',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('referral_id', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('content_type', sa.String(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('uploaded_by', sa.String(length=64), nullable=False),
    sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['referral_id'], ['referral.id'], name=op.f('fk_referral_document_referral_id_referral')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_referral_document'))
    )
    with op.batch_alter_table('referral_document', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_referral_document_referral_id'), ['referral_id'], unique=False)

    op.create_table('referral_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('referral_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('created', 'transition', 'note', 'advice', 'escalated', 'document', 'clock', name='eventkind', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('from_status', sa.Enum('draft', 'requested', 'received', 'accepted', 'rejected', 'ready', 'in-progress', 'completed', 'cancelled', 'failed', name='from_status', native_enum=False, create_constraint=True, length=16), nullable=True),
    sa.Column('to_status', sa.Enum('draft', 'requested', 'received', 'accepted', 'rejected', 'ready', 'in-progress', 'completed', 'cancelled', 'failed', name='to_status', native_enum=False, create_constraint=True, length=16), nullable=True),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('actor_user_id', sa.Integer(), nullable=True),
    sa.Column('actor_institution_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['actor_institution_id'], ['institution.id'], name=op.f('fk_referral_event_actor_institution_id_institution')),
    sa.ForeignKeyConstraint(['actor_user_id'], ['app_user.id'], name=op.f('fk_referral_event_actor_user_id_app_user')),
    sa.ForeignKeyConstraint(['referral_id'], ['referral.id'], name=op.f('fk_referral_event_referral_id_referral')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_referral_event'))
    )
    with op.batch_alter_table('referral_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_referral_event_referral_id'), ['referral_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('referral_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_referral_event_referral_id'))

    op.drop_table('referral_event')
    with op.batch_alter_table('referral_document', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_referral_document_referral_id'))

    op.drop_table('referral_document')
    with op.batch_alter_table('referral_clock', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_referral_clock_referral_id'))

    op.drop_table('referral_clock')
    with op.batch_alter_table('referral', schema=None) as batch_op:
        batch_op.drop_index('ix_referral_target_status')
        batch_op.drop_index(batch_op.f('ix_referral_target_institution_id'))
        batch_op.drop_index(batch_op.f('ix_referral_target_department_id'))
        batch_op.drop_index(batch_op.f('ix_referral_status'))
        batch_op.drop_index(batch_op.f('ix_referral_response_due_at'))
        batch_op.drop_index(batch_op.f('ix_referral_referring_user_id'))
        batch_op.drop_index(batch_op.f('ix_referral_referring_institution_id'))
        batch_op.drop_index(batch_op.f('ix_referral_person_id'))
        batch_op.drop_index(batch_op.f('ix_referral_direction'))
        batch_op.drop_index(batch_op.f('ix_referral_created_at'))
        batch_op.drop_index(batch_op.f('ix_referral_based_on_id'))

    op.drop_table('referral')
    with op.batch_alter_table('bed_census', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bed_census_institution_id'))

    op.drop_table('bed_census')
