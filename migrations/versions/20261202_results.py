"""Results: HR qualifications carry updated_at (re-imported EQA files update them in place;
the recognition check's in-process copy is stamped with it).

Revision ID: 20261202_results
Revises: 20261201_scheduling
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '20261202_results'
down_revision: str | None = '20261201_scheduling'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('result_qualification', schema=None) as batch_op:
        batch_op.add_column(sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE result_qualification SET updated_at = created_at")
    with op.batch_alter_table('result_qualification', schema=None) as batch_op:
        batch_op.alter_column('updated_at', existing_type=sa.DateTime(timezone=True),
                              nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('result_qualification', schema=None) as batch_op:
        batch_op.drop_column('updated_at')
