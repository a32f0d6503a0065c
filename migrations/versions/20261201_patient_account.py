"""Patient accounts: a patient's sign-in names their person in the patient index.

Revision ID: 20261201_patient_account
Revises: 20261123_patient_index
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '20261201_patient_account'
down_revision: str | None = '20261123_patient_index'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('person_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_app_user_person_id'), ['person_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_app_user_person_id_person'), 'person', ['person_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_app_user_person_id_person'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_app_user_person_id'))
        batch_op.drop_column('person_id')
