"""Covering indexes for the dashboards' sums over volume_month and outflow_month.

The primary keys lead with the department (volume) or cover every column but the count
(outflow), so a region's year read the table's pages row by row; with the counts held in
the index (PostgreSQL's INCLUDE; SQLite indexes the key columns only) the sums are
index-only scans.

Revision ID: 20261204_analytics_covering
Revises: 20261204_accounts
Create Date: 2026-12-04
"""

from collections.abc import Sequence

from alembic import op

revision: str = "20261204_analytics_covering"
down_revision: str | None = "20261204_accounts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_volume_month_institution_month", "volume_month", ["institution_id", "month", "kind"],
        postgresql_include=["department_key", "total", "local", "out_of_region",
                            "unknown_region"])
    op.create_index(
        "ix_outflow_month_region_month", "outflow_month", ["insured_region_code", "month"],
        postgresql_include=["institution_id", "department_key", "admissions"])


def downgrade() -> None:
    op.drop_index("ix_outflow_month_region_month", table_name="outflow_month")
    op.drop_index("ix_volume_month_institution_month", table_name="volume_month")
