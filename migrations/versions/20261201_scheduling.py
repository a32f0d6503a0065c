"""Scheduling: stationed experts, clinic sessions and slots, appointments, notices, trainees.

Revision ID: 20261201_scheduling
Revises: 20261201_referrals
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '20261201_scheduling'
down_revision: str | None = '20261201_referrals'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('clinic_session',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('practitioner_id', sa.Integer(), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=False),
    sa.Column('weekday', sa.Integer(), nullable=False),
    sa.Column('half_day', sa.Enum('morning', 'afternoon', name='halfday', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('start_time', sa.Time(), nullable=False),
    sa.Column('slot_minutes', sa.Integer(), nullable=False),
    sa.Column('slot_count', sa.Integer(), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('slot_count between 1 and 200', name=op.f('ck_clinic_session_slot_count_sane')),
    sa.CheckConstraint('slot_minutes between 5 and 240', name=op.f('ck_clinic_session_slot_minutes_sane')),
    sa.CheckConstraint('valid_to is null or valid_to >= valid_from', name=op.f('ck_clinic_session_dates_ordered')),
    sa.CheckConstraint('weekday between 0 and 6', name=op.f('ck_clinic_session_weekday_0_to_6')),
    sa.ForeignKeyConstraint(['department_id'], ['department.id'], name=op.f('fk_clinic_session_department_id_department')),
    sa.ForeignKeyConstraint(['institution_id'], ['institution.id'], name=op.f('fk_clinic_session_institution_id_institution')),
    sa.ForeignKeyConstraint(['practitioner_id'], ['practitioner.id'], name=op.f('fk_clinic_session_practitioner_id_practitioner')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_clinic_session'))
    )
    with op.batch_alter_table('clinic_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_clinic_session_department_id'), ['department_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_clinic_session_institution_id'), ['institution_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_clinic_session_practitioner_id'), ['practitioner_id'], unique=False)

    op.create_table('schedule_exception',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('holiday', 'absence', name='exceptionkind', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=True),
    sa.Column('practitioner_id', sa.Integer(), nullable=True),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('end_date', sa.Date(), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('end_date >= start_date', name=op.f('ck_schedule_exception_dates_ordered')),
    sa.CheckConstraint('institution_id is not null or practitioner_id is not null', name=op.f('ck_schedule_exception_has_target')),
    sa.ForeignKeyConstraint(['institution_id'], ['institution.id'], name=op.f('fk_schedule_exception_institution_id_institution')),
    sa.ForeignKeyConstraint(['practitioner_id'], ['practitioner.id'], name=op.f('fk_schedule_exception_practitioner_id_practitioner')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_schedule_exception'))
    )
    with op.batch_alter_table('schedule_exception', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_schedule_exception_institution_id'), ['institution_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_schedule_exception_practitioner_id'), ['practitioner_id'], unique=False)

    op.create_table('slot',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('clinic_session_id', sa.Integer(), nullable=False),
    sa.Column('practitioner_id', sa.Integer(), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=False),
    sa.Column('session_date', sa.Date(), nullable=False),
    sa.Column('start_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('end_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.Enum('free', 'busy', 'busy-unavailable', name='slotstatus', native_enum=False, create_constraint=True), nullable=False),
    sa.ForeignKeyConstraint(['clinic_session_id'], ['clinic_session.id'], name=op.f('fk_slot_clinic_session_id_clinic_session'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['department_id'], ['department.id'], name=op.f('fk_slot_department_id_department')),
    sa.ForeignKeyConstraint(['practitioner_id'], ['practitioner.id'], name=op.f('fk_slot_practitioner_id_practitioner')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_slot')),
    sa.UniqueConstraint('clinic_session_id', 'start_at', name=op.f('uq_slot_clinic_session_id_start_at'))
    )
    with op.batch_alter_table('slot', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_slot_clinic_session_id'), ['clinic_session_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_slot_department_id'), ['department_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_slot_practitioner_id'), ['practitioner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_slot_session_date'), ['session_date'], unique=False)
        batch_op.create_index(batch_op.f('ix_slot_start_at'), ['start_at'], unique=False)

    op.create_table('stationing',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('practitioner_role_id', sa.Integer(), nullable=False),
    sa.Column('mode', sa.Enum('resident', 'periodic', 'remote', name='stationingmode', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('role', sa.Enum('executive_director', 'attending', 'visiting', name='stationingrole', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['practitioner_role_id'], ['practitioner_role.id'], name=op.f('fk_stationing_practitioner_role_id_practitioner_role'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stationing')),
    sa.UniqueConstraint('practitioner_role_id', name=op.f('uq_stationing_practitioner_role_id'))
    )
    op.create_table('traineeship',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('practitioner_role_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('planned', 'in_training', 'completed', 'withdrawn', name='traineestatus', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('completed_on', sa.Date(), nullable=True),
    sa.Column('assessment', sa.String(length=200), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['practitioner_role_id'], ['practitioner_role.id'], name=op.f('fk_traineeship_practitioner_role_id_practitioner_role'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_traineeship')),
    sa.UniqueConstraint('practitioner_role_id', name=op.f('uq_traineeship_practitioner_role_id'))
    )
    op.create_table('appointment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('slot_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('practitioner_id', sa.Integer(), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('clinic_session_id', sa.Integer(), nullable=False),
    sa.Column('session_date', sa.Date(), nullable=False),
    sa.Column('start_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('end_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.Enum('proposed', 'pending', 'booked', 'arrived', 'fulfilled', 'cancelled', 'noshow', 'entered-in-error', 'checked-in', 'waitlist', name='appointmentstatus', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('source', sa.Enum('online', 'referral', 'window', 'phone', name='bookingsource', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('source_ref', sa.String(length=64), nullable=False),
    sa.Column('queue_number', sa.Integer(), nullable=True),
    sa.Column('booked_by_user_id', sa.Integer(), nullable=True),
    sa.Column('cancel_reason', sa.Enum('patient', 'staff', 'session_cancelled', 'rescheduled', name='cancelreason', native_enum=False, create_constraint=True, length=24), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['booked_by_user_id'], ['app_user.id'], name=op.f('fk_appointment_booked_by_user_id_app_user')),
    sa.ForeignKeyConstraint(['clinic_session_id'], ['clinic_session.id'], name=op.f('fk_appointment_clinic_session_id_clinic_session')),
    sa.ForeignKeyConstraint(['department_id'], ['department.id'], name=op.f('fk_appointment_department_id_department')),
    sa.ForeignKeyConstraint(['institution_id'], ['institution.id'], name=op.f('fk_appointment_institution_id_institution')),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_appointment_person_id_person')),
    sa.ForeignKeyConstraint(['practitioner_id'], ['practitioner.id'], name=op.f('fk_appointment_practitioner_id_practitioner')),
    sa.ForeignKeyConstraint(['slot_id'], ['slot.id'], name=op.f('fk_appointment_slot_id_slot')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_appointment')),
    sa.UniqueConstraint('code', name=op.f('uq_appointment_code'))
    )
    with op.batch_alter_table('appointment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_appointment_clinic_session_id'), ['clinic_session_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_appointment_department_id'), ['department_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_appointment_institution_id'), ['institution_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_appointment_person_id'), ['person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_appointment_practitioner_id'), ['practitioner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_appointment_session_date'), ['session_date'], unique=False)
        batch_op.create_index(batch_op.f('ix_appointment_slot_id'), ['slot_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_appointment_start_at'), ['start_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_appointment_status'), ['status'], unique=False)

    op.create_table('appointment_status_change',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('appointment_id', sa.Integer(), nullable=False),
    sa.Column('from_status', sa.Enum('proposed', 'pending', 'booked', 'arrived', 'fulfilled', 'cancelled', 'noshow', 'entered-in-error', 'checked-in', 'waitlist', name='from_status', native_enum=False, create_constraint=True, length=24), nullable=True),
    sa.Column('to_status', sa.Enum('proposed', 'pending', 'booked', 'arrived', 'fulfilled', 'cancelled', 'noshow', 'entered-in-error', 'checked-in', 'waitlist', name='to_status', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('note', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['appointment_id'], ['appointment.id'], name=op.f('fk_appointment_status_change_appointment_id_appointment'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_appointment_status_change'))
    )
    with op.batch_alter_table('appointment_status_change', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_appointment_status_change_appointment_id'), ['appointment_id'], unique=False)

    op.create_table('reschedule_notice',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('appointment_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('message_zh', sa.Text(), nullable=False),
    sa.Column('message_en', sa.Text(), nullable=False),
    sa.Column('offered_slot_ids', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['appointment_id'], ['appointment.id'], name=op.f('fk_reschedule_notice_appointment_id_appointment')),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_reschedule_notice_person_id_person')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reschedule_notice'))
    )
    with op.batch_alter_table('reschedule_notice', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reschedule_notice_appointment_id'), ['appointment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_reschedule_notice_person_id'), ['person_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('reschedule_notice', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reschedule_notice_person_id'))
        batch_op.drop_index(batch_op.f('ix_reschedule_notice_appointment_id'))

    op.drop_table('reschedule_notice')
    with op.batch_alter_table('appointment_status_change', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_appointment_status_change_appointment_id'))

    op.drop_table('appointment_status_change')
    with op.batch_alter_table('appointment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_appointment_status'))
        batch_op.drop_index(batch_op.f('ix_appointment_start_at'))
        batch_op.drop_index(batch_op.f('ix_appointment_slot_id'))
        batch_op.drop_index(batch_op.f('ix_appointment_session_date'))
        batch_op.drop_index(batch_op.f('ix_appointment_practitioner_id'))
        batch_op.drop_index(batch_op.f('ix_appointment_person_id'))
        batch_op.drop_index(batch_op.f('ix_appointment_institution_id'))
        batch_op.drop_index(batch_op.f('ix_appointment_department_id'))
        batch_op.drop_index(batch_op.f('ix_appointment_clinic_session_id'))

    op.drop_table('appointment')
    op.drop_table('traineeship')
    op.drop_table('stationing')
    with op.batch_alter_table('slot', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_slot_start_at'))
        batch_op.drop_index(batch_op.f('ix_slot_session_date'))
        batch_op.drop_index(batch_op.f('ix_slot_practitioner_id'))
        batch_op.drop_index(batch_op.f('ix_slot_department_id'))
        batch_op.drop_index(batch_op.f('ix_slot_clinic_session_id'))

    op.drop_table('slot')
    with op.batch_alter_table('schedule_exception', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_schedule_exception_practitioner_id'))
        batch_op.drop_index(batch_op.f('ix_schedule_exception_institution_id'))

    op.drop_table('schedule_exception')
    with op.batch_alter_table('clinic_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_clinic_session_practitioner_id'))
        batch_op.drop_index(batch_op.f('ix_clinic_session_institution_id'))
        batch_op.drop_index(batch_op.f('ix_clinic_session_department_id'))

    op.drop_table('clinic_session')
