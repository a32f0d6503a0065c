"""Foundation and registry: users, audit trail, regions, institutions, agreements.

Revision ID: 20261123_foundation
Revises: 
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '20261123_foundation'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('agreement',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('type', sa.Enum('trusteeship', 'city_group', 'county_community', 'specialty_alliance', 'telemedicine_network', 'co_built_department', 'expert_workstation', 'regional_medical_centre', 'research_project', 'new_technique', name='agreementtype', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('title', sa.String(length=256), nullable=False),
    sa.Column('title_en', sa.String(length=256), nullable=False),
    sa.Column('specialty', sa.String(length=32), nullable=False),
    sa.Column('status', sa.Enum('draft', 'active', 'suspended', 'ended', name='agreementstatus', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('end_date', sa.Date(), nullable=True),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('end_date is null or end_date >= start_date', name=op.f('ck_agreement_dates_ordered')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agreement')),
    sa.UniqueConstraint('code', name=op.f('uq_agreement_code'))
    )
    with op.batch_alter_table('agreement', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agreement_start_date'), ['start_date'], unique=False)
        batch_op.create_index(batch_op.f('ix_agreement_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_agreement_type'), ['type'], unique=False)

    op.create_table('audit_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor_user_id', sa.Integer(), nullable=True),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('actor_role', sa.String(length=32), nullable=False),
    sa.Column('actor_institution_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('entity_type', sa.String(length=64), nullable=False),
    sa.Column('entity_id', sa.String(length=64), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=True),
    sa.Column('patient_id', sa.Integer(), nullable=True),
    sa.Column('outcome', sa.Enum('success', 'denied', 'failed', name='auditoutcome', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('client_ip', sa.String(length=64), nullable=False),
    sa.Column('user_agent', sa.String(length=256), nullable=False),
    sa.Column('request_id', sa.String(length=64), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_event'))
    )
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_event_action'), ['action'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_event_actor_institution_id'), ['actor_institution_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_event_actor_user_id'), ['actor_user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_event_institution_id'), ['institution_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_event_patient_id'), ['patient_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_event_recorded_at'), ['recorded_at'], unique=False)

    op.create_table('login_attempt',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('client_ip', sa.String(length=64), nullable=False),
    sa.Column('succeeded', sa.Boolean(), nullable=False),
    sa.Column('attempted_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_attempt'))
    )
    with op.batch_alter_table('login_attempt', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_login_attempt_attempted_at'), ['attempted_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_login_attempt_client_ip'), ['client_ip'], unique=False)
        batch_op.create_index(batch_op.f('ix_login_attempt_username'), ['username'], unique=False)

    op.create_table('region',
    sa.Column('code', sa.String(length=6), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('name_en', sa.String(length=128), nullable=False),
    sa.Column('level', sa.Enum('province', 'city', 'county', name='regionlevel', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('parent_code', sa.String(length=6), nullable=True),
    sa.Column('latitude', sa.Double(), nullable=True),
    sa.Column('longitude', sa.Double(), nullable=True),
    sa.CheckConstraint('length(code) = 6', name=op.f('ck_region_code_six_digits')),
    sa.ForeignKeyConstraint(['parent_code'], ['region.code'], name=op.f('fk_region_parent_code_region')),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_region'))
    )
    with op.batch_alter_table('region', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_region_parent_code'), ['parent_code'], unique=False)

    op.create_table('institution',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('name_en', sa.String(length=256), nullable=False),
    sa.Column('region_code', sa.String(length=6), nullable=False),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.Column('grade', sa.Enum('甲', '乙', '丙', '未定', name='institutiongrade', native_enum=False, create_constraint=True, length=8), nullable=False),
    sa.Column('kind', sa.Enum('general_hospital', 'tcm_hospital', 'specialty_hospital', 'children_hospital', 'maternal_child', 'stomatology_hospital', 'cancer_hospital', 'township_health_centre', 'community_health_centre', 'village_clinic', name='institutionkind', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('beds', sa.Integer(), nullable=False),
    sa.Column('address', sa.String(length=256), nullable=False),
    sa.Column('phone', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('beds >= 0', name=op.f('ck_institution_beds_not_negative')),
    sa.CheckConstraint('level in (1, 2, 3)', name=op.f('ck_institution_level_1_to_3')),
    sa.ForeignKeyConstraint(['parent_id'], ['institution.id'], name=op.f('fk_institution_parent_id_institution')),
    sa.ForeignKeyConstraint(['region_code'], ['region.code'], name=op.f('fk_institution_region_code_region')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_institution')),
    sa.UniqueConstraint('code', name=op.f('uq_institution_code'))
    )
    with op.batch_alter_table('institution', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_institution_parent_id'), ['parent_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_institution_region_code'), ['region_code'], unique=False)

    op.create_table('department',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('name_en', sa.String(length=128), nullable=False),
    sa.Column('specialty', sa.String(length=32), nullable=False),
    sa.Column('beds', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('beds >= 0', name=op.f('ck_department_beds_not_negative')),
    sa.ForeignKeyConstraint(['institution_id'], ['institution.id'], name=op.f('fk_department_institution_id_institution')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_department')),
    sa.UniqueConstraint('institution_id', 'code', name=op.f('uq_department_institution_id_code'))
    )
    with op.batch_alter_table('department', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_department_institution_id'), ['institution_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_department_specialty'), ['specialty'], unique=False)

    op.create_table('institution_centre',
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('centre', sa.Enum('chest_pain', 'stroke', 'trauma', 'maternal', 'neonatal', name='emergencycentre', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.ForeignKeyConstraint(['institution_id'], ['institution.id'], name=op.f('fk_institution_centre_institution_id_institution'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('institution_id', 'centre', name=op.f('pk_institution_centre'))
    )
    op.create_table('agreement_party',
    sa.Column('agreement_id', sa.Integer(), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.Enum('lead', 'member', name='partyrole', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['agreement_id'], ['agreement.id'], name=op.f('fk_agreement_party_agreement_id_agreement'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['department_id'], ['department.id'], name=op.f('fk_agreement_party_department_id_department')),
    sa.ForeignKeyConstraint(['institution_id'], ['institution.id'], name=op.f('fk_agreement_party_institution_id_institution')),
    sa.PrimaryKeyConstraint('agreement_id', 'institution_id', name=op.f('pk_agreement_party'))
    )
    op.create_table('practitioner',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('sex', sa.String(length=8), nullable=False),
    sa.Column('title', sa.Enum('chief_physician', 'associate_chief_physician', 'attending_physician', 'resident_physician', 'village_doctor', 'nurse', 'technician', name='practitionertitle', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('specialty', sa.String(length=32), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.Column('license_number', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("sex in ('male', 'female')", name=op.f('ck_practitioner_sex_known')),
    sa.ForeignKeyConstraint(['department_id'], ['department.id'], name=op.f('fk_practitioner_department_id_department')),
    sa.ForeignKeyConstraint(['institution_id'], ['institution.id'], name=op.f('fk_practitioner_institution_id_institution')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_practitioner')),
    sa.UniqueConstraint('code', name=op.f('uq_practitioner_code'))
    )
    with op.batch_alter_table('practitioner', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_practitioner_department_id'), ['department_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_practitioner_institution_id'), ['institution_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_practitioner_specialty'), ['specialty'], unique=False)

    op.create_table('app_user',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=64), nullable=False),
    sa.Column('password_hash', sa.String(length=256), nullable=False),
    sa.Column('role', sa.Enum('platform_admin', 'commission_analyst', 'hospital_admin', 'clinician', 'insurance_clerk', 'patient', name='role', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=True),
    sa.Column('practitioner_id', sa.Integer(), nullable=True),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('token_version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_login_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['institution_id'], ['institution.id'], name=op.f('fk_app_user_institution_id_institution')),
    sa.ForeignKeyConstraint(['practitioner_id'], ['practitioner.id'], name=op.f('fk_app_user_practitioner_id_practitioner')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_app_user')),
    sa.UniqueConstraint('username', name=op.f('uq_app_user_username'))
    )
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_app_user_institution_id'), ['institution_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_app_user_practitioner_id'), ['practitioner_id'], unique=False)

    op.create_table('practitioner_role',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('practitioner_id', sa.Integer(), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.Column('role', sa.Enum('staff', 'department_director', 'executive_director', 'stationed_expert', 'visiting_expert', 'remote_consultant', 'trainee', 'executive_president', name='practitionerrolekind', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('end_date', sa.Date(), nullable=True),
    sa.CheckConstraint('end_date is null or end_date >= start_date', name=op.f('ck_practitioner_role_dates_ordered')),
    sa.ForeignKeyConstraint(['department_id'], ['department.id'], name=op.f('fk_practitioner_role_department_id_department')),
    sa.ForeignKeyConstraint(['institution_id'], ['institution.id'], name=op.f('fk_practitioner_role_institution_id_institution')),
    sa.ForeignKeyConstraint(['practitioner_id'], ['practitioner.id'], name=op.f('fk_practitioner_role_practitioner_id_practitioner'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_practitioner_role'))
    )
    with op.batch_alter_table('practitioner_role', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_practitioner_role_institution_id'), ['institution_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_practitioner_role_practitioner_id'), ['practitioner_id'], unique=False)


    op.create_table('web_session',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('client_ip', sa.String(length=64), nullable=False),
    sa.Column('user_agent', sa.String(length=256), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_web_session_user_id_app_user')),
    sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_web_session'))
    )
    with op.batch_alter_table('web_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_web_session_user_id'), ['user_id'], unique=False)

    _make_audit_append_only()


# The audit trail is append-only (等保 2.0 asks for tamper-proof audit records): the
# database itself refuses UPDATE and DELETE on audit_event, whatever client connects.
_PG_FUNCTION = """
CREATE FUNCTION audit_event_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_event is append-only';
END;
$$ LANGUAGE plpgsql
"""


def _make_audit_append_only() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        op.execute(
            "CREATE TRIGGER audit_event_no_change BEFORE UPDATE OR DELETE ON audit_event "
            "FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_event_no_{verb.lower()} BEFORE {verb} ON audit_event "
                "BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END"
            )


def _drop_audit_append_only() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_change ON audit_event")
        op.execute("DROP FUNCTION IF EXISTS audit_event_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_delete")


def downgrade() -> None:
    _drop_audit_append_only()
    with op.batch_alter_table('web_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_web_session_user_id'))

    op.drop_table('web_session')
    with op.batch_alter_table('practitioner_role', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_practitioner_role_practitioner_id'))
        batch_op.drop_index(batch_op.f('ix_practitioner_role_institution_id'))

    op.drop_table('practitioner_role')
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_app_user_practitioner_id'))
        batch_op.drop_index(batch_op.f('ix_app_user_institution_id'))

    op.drop_table('app_user')
    with op.batch_alter_table('practitioner', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_practitioner_specialty'))
        batch_op.drop_index(batch_op.f('ix_practitioner_institution_id'))
        batch_op.drop_index(batch_op.f('ix_practitioner_department_id'))

    op.drop_table('practitioner')
    op.drop_table('agreement_party')
    op.drop_table('institution_centre')
    with op.batch_alter_table('department', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_department_specialty'))
        batch_op.drop_index(batch_op.f('ix_department_institution_id'))

    op.drop_table('department')
    with op.batch_alter_table('institution', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_institution_region_code'))
        batch_op.drop_index(batch_op.f('ix_institution_parent_id'))

    op.drop_table('institution')
    with op.batch_alter_table('region', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_region_parent_code'))

    op.drop_table('region')
    with op.batch_alter_table('login_attempt', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_login_attempt_username'))
        batch_op.drop_index(batch_op.f('ix_login_attempt_client_ip'))
        batch_op.drop_index(batch_op.f('ix_login_attempt_attempted_at'))

    op.drop_table('login_attempt')
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_event_recorded_at'))
        batch_op.drop_index(batch_op.f('ix_audit_event_patient_id'))
        batch_op.drop_index(batch_op.f('ix_audit_event_institution_id'))
        batch_op.drop_index(batch_op.f('ix_audit_event_actor_user_id'))
        batch_op.drop_index(batch_op.f('ix_audit_event_actor_institution_id'))
        batch_op.drop_index(batch_op.f('ix_audit_event_action'))

    op.drop_table('audit_event')
    with op.batch_alter_table('agreement', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agreement_type'))
        batch_op.drop_index(batch_op.f('ix_agreement_status'))
        batch_op.drop_index(batch_op.f('ix_agreement_start_date'))

    op.drop_table('agreement')
