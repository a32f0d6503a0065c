"""Consultations: requests, patients, experts, attendance, timeline, signed reports,
amendments and documents.

Revision ID: 20261202_consultations
Revises: 20261202_settlement
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '20261202_consultations'
down_revision: str | None = '20261202_settlement'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('consultation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('single', 'mdt', 'ward_round', 'case_discussion', 'teaching', name='consultationkind', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('urgency', sa.Enum('routine', 'urgent', 'emergency', name='urgency', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('status', sa.Enum('requested', 'accepted', 'declined', 'scheduled', 'in_session', 'reported', 'closed', 'cancelled', name='consultationstatus', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('requesting_institution_id', sa.Integer(), nullable=False),
    sa.Column('requesting_user_id', sa.Integer(), nullable=True),
    sa.Column('requesting_practitioner_id', sa.Integer(), nullable=True),
    sa.Column('target_institution_id', sa.Integer(), nullable=False),
    sa.Column('target_department_id', sa.Integer(), nullable=True),
    sa.Column('target_specialty', sa.String(length=64), nullable=False),
    sa.Column('requested_expert_ids', sa.String(length=200), nullable=False),
    sa.Column('diagnosis_code', sa.String(length=16), nullable=False),
    sa.Column('diagnosis_text', sa.String(length=200), nullable=False),
    sa.Column('question', sa.Text(), nullable=False),
    sa.Column('clinical_summary', sa.Text(), nullable=False),
    sa.Column('preferred_times', sa.String(length=500), nullable=False),
    sa.Column('referral_id', sa.Integer(), nullable=True),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('response_due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('responded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('escalated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('coordinator_user_id', sa.Integer(), nullable=True),
    sa.Column('decline_reason', sa.Text(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('room_token', sa.String(length=64), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('follow_up_referral_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('requesting_institution_id <> target_institution_id', name=op.f('ck_consultation_two_institutions')),
    sa.ForeignKeyConstraint(['coordinator_user_id'], ['app_user.id'], name=op.f('fk_consultation_coordinator_user_id_app_user')),
    sa.ForeignKeyConstraint(['follow_up_referral_id'], ['referral.id'], name=op.f('fk_consultation_follow_up_referral_id_referral')),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_consultation_person_id_person')),
    sa.ForeignKeyConstraint(['referral_id'], ['referral.id'], name=op.f('fk_consultation_referral_id_referral')),
    sa.ForeignKeyConstraint(['requesting_institution_id'], ['institution.id'], name=op.f('fk_consultation_requesting_institution_id_institution')),
    sa.ForeignKeyConstraint(['requesting_practitioner_id'], ['practitioner.id'], name=op.f('fk_consultation_requesting_practitioner_id_practitioner')),
    sa.ForeignKeyConstraint(['requesting_user_id'], ['app_user.id'], name=op.f('fk_consultation_requesting_user_id_app_user')),
    sa.ForeignKeyConstraint(['target_department_id'], ['department.id'], name=op.f('fk_consultation_target_department_id_department')),
    sa.ForeignKeyConstraint(['target_institution_id'], ['institution.id'], name=op.f('fk_consultation_target_institution_id_institution')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consultation')),
    sa.UniqueConstraint('room_token', name=op.f('uq_consultation_room_token'))
    )
    with op.batch_alter_table('consultation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consultation_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_consultation_person_id'), ['person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_consultation_requesting_institution_id'), ['requesting_institution_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_consultation_requesting_user_id'), ['requesting_user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_consultation_response_due_at'), ['response_due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_consultation_starts_at'), ['starts_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_consultation_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_consultation_target_institution_id'), ['target_institution_id'], unique=False)
        batch_op.create_index('ix_consultation_target_status', ['target_institution_id', 'status'], unique=False)

    op.create_table('consultation_attendance',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('consultation_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=True),
    sa.Column('practitioner_id', sa.Integer(), nullable=True),
    sa.Column('joined_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['consultation_id'], ['consultation.id'], name=op.f('fk_consultation_attendance_consultation_id_consultation')),
    sa.ForeignKeyConstraint(['institution_id'], ['institution.id'], name=op.f('fk_consultation_attendance_institution_id_institution')),
    sa.ForeignKeyConstraint(['practitioner_id'], ['practitioner.id'], name=op.f('fk_consultation_attendance_practitioner_id_practitioner')),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_consultation_attendance_user_id_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consultation_attendance')),
    sa.UniqueConstraint('consultation_id', 'user_id', name=op.f('uq_consultation_attendance_consultation_id_user_id'))
    )
    with op.batch_alter_table('consultation_attendance', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consultation_attendance_consultation_id'), ['consultation_id'], unique=False)

    op.create_table('consultation_document',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('consultation_id', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('content_type', sa.String(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('uploaded_by', sa.String(length=64), nullable=False),
    sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['consultation_id'], ['consultation.id'], name=op.f('fk_consultation_document_consultation_id_consultation')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consultation_document'))
    )
    with op.batch_alter_table('consultation_document', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consultation_document_consultation_id'), ['consultation_id'], unique=False)

    op.create_table('consultation_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('consultation_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('from_status', sa.String(length=16), nullable=False),
    sa.Column('to_status', sa.String(length=16), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('actor_user_id', sa.Integer(), nullable=True),
    sa.Column('actor_institution_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['actor_institution_id'], ['institution.id'], name=op.f('fk_consultation_event_actor_institution_id_institution')),
    sa.ForeignKeyConstraint(['actor_user_id'], ['app_user.id'], name=op.f('fk_consultation_event_actor_user_id_app_user')),
    sa.ForeignKeyConstraint(['consultation_id'], ['consultation.id'], name=op.f('fk_consultation_event_consultation_id_consultation')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consultation_event'))
    )
    with op.batch_alter_table('consultation_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consultation_event_consultation_id'), ['consultation_id'], unique=False)

    op.create_table('consultation_expert',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('consultation_id', sa.Integer(), nullable=False),
    sa.Column('practitioner_id', sa.Integer(), nullable=False),
    sa.Column('assigned_by', sa.String(length=64), nullable=False),
    sa.Column('assigned_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['consultation_id'], ['consultation.id'], name=op.f('fk_consultation_expert_consultation_id_consultation')),
    sa.ForeignKeyConstraint(['practitioner_id'], ['practitioner.id'], name=op.f('fk_consultation_expert_practitioner_id_practitioner')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consultation_expert')),
    sa.UniqueConstraint('consultation_id', 'practitioner_id', name=op.f('uq_consultation_expert_consultation_id_practitioner_id'))
    )
    with op.batch_alter_table('consultation_expert', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consultation_expert_consultation_id'), ['consultation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_consultation_expert_practitioner_id'), ['practitioner_id'], unique=False)

    op.create_table('consultation_patient',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('consultation_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['consultation_id'], ['consultation.id'], name=op.f('fk_consultation_patient_consultation_id_consultation')),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_consultation_patient_person_id_person')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consultation_patient')),
    sa.UniqueConstraint('consultation_id', 'person_id', name=op.f('uq_consultation_patient_consultation_id_person_id'))
    )
    with op.batch_alter_table('consultation_patient', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consultation_patient_consultation_id'), ['consultation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_consultation_patient_person_id'), ['person_id'], unique=False)

    op.create_table('consultation_report',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('consultation_id', sa.Integer(), nullable=False),
    sa.Column('findings', sa.Text(), nullable=False),
    sa.Column('assessment', sa.Text(), nullable=False),
    sa.Column('recommendations', sa.Text(), nullable=False),
    sa.Column('refer_up', sa.Boolean(), nullable=False),
    sa.Column('drafted_by', sa.String(length=64), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('content_sha256', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['consultation_id'], ['consultation.id'], name=op.f('fk_consultation_report_consultation_id_consultation')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consultation_report')),
    sa.UniqueConstraint('consultation_id', name=op.f('uq_consultation_report_consultation_id'))
    )
    op.create_table('consultation_amendment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('author', sa.String(length=64), nullable=False),
    sa.Column('author_user_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['author_user_id'], ['app_user.id'], name=op.f('fk_consultation_amendment_author_user_id_app_user')),
    sa.ForeignKeyConstraint(['report_id'], ['consultation_report.id'], name=op.f('fk_consultation_amendment_report_id_consultation_report')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consultation_amendment'))
    )
    with op.batch_alter_table('consultation_amendment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consultation_amendment_report_id'), ['report_id'], unique=False)

    op.create_table('consultation_signature',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=False),
    sa.Column('practitioner_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('signer', sa.String(length=64), nullable=False),
    sa.Column('content_sha256', sa.String(length=64), nullable=False),
    sa.Column('signed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['practitioner_id'], ['practitioner.id'], name=op.f('fk_consultation_signature_practitioner_id_practitioner')),
    sa.ForeignKeyConstraint(['report_id'], ['consultation_report.id'], name=op.f('fk_consultation_signature_report_id_consultation_report')),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_consultation_signature_user_id_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consultation_signature')),
    sa.UniqueConstraint('report_id', 'practitioner_id', name=op.f('uq_consultation_signature_report_id_practitioner_id'))
    )
    with op.batch_alter_table('consultation_signature', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consultation_signature_report_id'), ['report_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('consultation_signature', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consultation_signature_report_id'))

    op.drop_table('consultation_signature')
    with op.batch_alter_table('consultation_amendment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consultation_amendment_report_id'))

    op.drop_table('consultation_amendment')
    op.drop_table('consultation_report')
    with op.batch_alter_table('consultation_patient', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consultation_patient_person_id'))
        batch_op.drop_index(batch_op.f('ix_consultation_patient_consultation_id'))

    op.drop_table('consultation_patient')
    with op.batch_alter_table('consultation_expert', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consultation_expert_practitioner_id'))
        batch_op.drop_index(batch_op.f('ix_consultation_expert_consultation_id'))

    op.drop_table('consultation_expert')
    with op.batch_alter_table('consultation_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consultation_event_consultation_id'))

    op.drop_table('consultation_event')
    with op.batch_alter_table('consultation_document', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consultation_document_consultation_id'))

    op.drop_table('consultation_document')
    with op.batch_alter_table('consultation_attendance', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consultation_attendance_consultation_id'))

    op.drop_table('consultation_attendance')
    with op.batch_alter_table('consultation', schema=None) as batch_op:
        batch_op.drop_index('ix_consultation_target_status')
        batch_op.drop_index(batch_op.f('ix_consultation_target_institution_id'))
        batch_op.drop_index(batch_op.f('ix_consultation_status'))
        batch_op.drop_index(batch_op.f('ix_consultation_starts_at'))
        batch_op.drop_index(batch_op.f('ix_consultation_response_due_at'))
        batch_op.drop_index(batch_op.f('ix_consultation_requesting_user_id'))
        batch_op.drop_index(batch_op.f('ix_consultation_requesting_institution_id'))
        batch_op.drop_index(batch_op.f('ix_consultation_person_id'))
        batch_op.drop_index(batch_op.f('ix_consultation_kind'))

    op.drop_table('consultation')
