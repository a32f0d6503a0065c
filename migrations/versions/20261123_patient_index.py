"""Patient index: people, source records, review queue, link history, sharing.

Revision ID: 20261123_patient_index
Revises: 20261123_foundation
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '20261123_patient_index'
down_revision: str | None = '20261123_foundation'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('person',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('active', 'merged', name='personstatus', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('merged_into_id', sa.Integer(), nullable=True),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('sex', sa.Enum('male', 'female', 'other', 'unknown', name='sex', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('birth_date', sa.Date(), nullable=True),
    sa.Column('id_number_hash', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['merged_into_id'], ['person.id'], name=op.f('fk_person_merged_into_id_person')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_person')),
    sa.UniqueConstraint('id_number_hash', name=op.f('uq_person_id_number_hash'))
    )
    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_person_merged_into_id'), ['merged_into_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_person_status'), ['status'], unique=False)

    op.create_table('link_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('linked', 'relinked', 'review_opened', 'review_distinct', 'merged', 'unmerged', 'detached', name='linkeventkind', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('other_person_id', sa.Integer(), nullable=True),
    sa.Column('record_ids', sa.JSON(), nullable=False),
    sa.Column('match_probability', sa.Float(), nullable=True),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('reversed_by_id', sa.Integer(), nullable=True),
    sa.Column('reverses_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['other_person_id'], ['person.id'], name=op.f('fk_link_event_other_person_id_person')),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_link_event_person_id_person')),
    sa.ForeignKeyConstraint(['reversed_by_id'], ['link_event.id'], name=op.f('fk_link_event_reversed_by_id_link_event')),
    sa.ForeignKeyConstraint(['reverses_id'], ['link_event.id'], name=op.f('fk_link_event_reverses_id_link_event')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_link_event'))
    )
    with op.batch_alter_table('link_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_link_event_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_link_event_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_link_event_other_person_id'), ['other_person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_link_event_person_id'), ['person_id'], unique=False)

    op.create_table('patient_record',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('local_id', sa.String(length=64), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('sex', sa.Enum('male', 'female', 'other', 'unknown', name='sex', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('birth_date', sa.Date(), nullable=True),
    sa.Column('id_number_cipher', sa.String(length=128), nullable=True),
    sa.Column('id_number_hash', sa.String(length=64), nullable=True),
    sa.Column('id_number_masked', sa.String(length=18), nullable=False),
    sa.Column('phone_cipher', sa.String(length=128), nullable=True),
    sa.Column('phone_hash', sa.String(length=64), nullable=True),
    sa.Column('address', sa.String(length=200), nullable=False),
    sa.Column('insured_region_code', sa.String(length=6), nullable=True),
    sa.Column('insurance_scheme', sa.Enum('employee', 'resident', name='insurancescheme', native_enum=False, create_constraint=True, length=16), nullable=True),
    sa.Column('flags', sa.JSON(), nullable=False),
    sa.Column('name_py', sa.String(length=64), nullable=True),
    sa.Column('surname_py', sa.String(length=16), nullable=True),
    sa.Column('address_key', sa.String(length=200), nullable=True),
    sa.Column('superseded_by_id', sa.Integer(), nullable=True),
    sa.Column('link_method', sa.Enum('resident_id', 'probabilistic', 'new_person', 'reviewed', 'merged', 'unmerged', 'detached', name='linkmethod', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('match_probability', sa.Float(), nullable=True),
    sa.Column('linked_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['institution_id'], ['institution.id'], name=op.f('fk_patient_record_institution_id_institution')),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_patient_record_person_id_person')),
    sa.ForeignKeyConstraint(['superseded_by_id'], ['patient_record.id'], name=op.f('fk_patient_record_superseded_by_id_patient_record')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_patient_record')),
    sa.UniqueConstraint('institution_id', 'local_id', name=op.f('uq_patient_record_institution_id_local_id'))
    )
    with op.batch_alter_table('patient_record', schema=None) as batch_op:
        batch_op.create_index('ix_patient_record_birth_date_surname_py', ['birth_date', 'surname_py'], unique=False)
        batch_op.create_index(batch_op.f('ix_patient_record_id_number_hash'), ['id_number_hash'], unique=False)
        batch_op.create_index(batch_op.f('ix_patient_record_institution_id'), ['institution_id'], unique=False)
        batch_op.create_index('ix_patient_record_name_py_birth_date', ['name_py', 'birth_date'], unique=False)
        batch_op.create_index(batch_op.f('ix_patient_record_person_id'), ['person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_patient_record_phone_hash'), ['phone_hash'], unique=False)

    op.create_table('patient_share',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Enum('consent', 'referral', 'consultation', name='sharingreason', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('source_ref', sa.String(length=64), nullable=False),
    sa.Column('granted_by', sa.String(length=64), nullable=False),
    sa.Column('granted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['institution_id'], ['institution.id'], name=op.f('fk_patient_share_institution_id_institution')),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_patient_share_person_id_person')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_patient_share'))
    )
    with op.batch_alter_table('patient_share', schema=None) as batch_op:
        batch_op.create_index('ix_patient_share_institution_person', ['institution_id', 'person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_patient_share_person_id'), ['person_id'], unique=False)

    op.create_table('link_review',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.Column('candidate_record_id', sa.Integer(), nullable=False),
    sa.Column('candidate_person_id', sa.Integer(), nullable=False),
    sa.Column('match_probability', sa.Float(), nullable=False),
    sa.Column('match_weight', sa.Float(), nullable=False),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.Column('status', sa.Enum('open', 'merged', 'distinct', 'superseded', name='reviewstatus', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_by', sa.String(length=64), nullable=False),
    sa.Column('decision_reason', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['candidate_person_id'], ['person.id'], name=op.f('fk_link_review_candidate_person_id_person')),
    sa.ForeignKeyConstraint(['candidate_record_id'], ['patient_record.id'], name=op.f('fk_link_review_candidate_record_id_patient_record')),
    sa.ForeignKeyConstraint(['record_id'], ['patient_record.id'], name=op.f('fk_link_review_record_id_patient_record')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_link_review'))
    )
    with op.batch_alter_table('link_review', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_link_review_candidate_person_id'), ['candidate_person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_link_review_record_id'), ['record_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_link_review_status'), ['status'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('link_review', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_link_review_status'))
        batch_op.drop_index(batch_op.f('ix_link_review_record_id'))
        batch_op.drop_index(batch_op.f('ix_link_review_candidate_person_id'))

    op.drop_table('link_review')
    with op.batch_alter_table('patient_share', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_patient_share_person_id'))
        batch_op.drop_index('ix_patient_share_institution_person')

    op.drop_table('patient_share')
    with op.batch_alter_table('patient_record', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_patient_record_phone_hash'))
        batch_op.drop_index(batch_op.f('ix_patient_record_person_id'))
        batch_op.drop_index('ix_patient_record_name_py_birth_date')
        batch_op.drop_index(batch_op.f('ix_patient_record_institution_id'))
        batch_op.drop_index(batch_op.f('ix_patient_record_id_number_hash'))
        batch_op.drop_index('ix_patient_record_birth_date_surname_py')

    op.drop_table('patient_record')
    with op.batch_alter_table('link_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_link_event_person_id'))
        batch_op.drop_index(batch_op.f('ix_link_event_other_person_id'))
        batch_op.drop_index(batch_op.f('ix_link_event_kind'))
        batch_op.drop_index(batch_op.f('ix_link_event_created_at'))

    op.drop_table('link_event')
    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_person_status'))
        batch_op.drop_index(batch_op.f('ix_person_merged_into_id'))

    op.drop_table('person')
