"""Two-factor sign-in: each user's TOTP authenticator (secret encrypted at rest) and their
one-time recovery codes (hashed).

Revision ID: 20261204_accounts
Revises: 20261203_consultation_attendance
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '20261204_accounts'
down_revision: str | None = '20261203_consultation_attendance'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('user_totp',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('secret_cipher', sa.String(length=256), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_step', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_user_totp_user_id_app_user')),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_user_totp'))
    )
    op.create_table('totp_recovery_code',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_totp_recovery_code_user_id_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_totp_recovery_code')),
    sa.UniqueConstraint('code_hash', name=op.f('uq_totp_recovery_code_code_hash'))
    )
    with op.batch_alter_table('totp_recovery_code', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_totp_recovery_code_user_id'), ['user_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('totp_recovery_code', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_totp_recovery_code_user_id'))
    op.drop_table('totp_recovery_code')
    op.drop_table('user_totp')
