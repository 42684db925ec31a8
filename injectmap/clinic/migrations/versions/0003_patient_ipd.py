"""a patient's measured interpupillary distance (patients.ipd_mm), which sets the size of their photo fits

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 23:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ipd_mm', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.drop_column('ipd_mm')
