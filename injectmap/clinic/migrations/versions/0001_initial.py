"""the patient records: patients, visits with their plans, photos, review outcomes, audit

Revision ID: 0001
Revises: (none)
Create Date: 2026-12-02 04:12:08.908234
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('audit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('table_name', sa.String(length=32), nullable=False),
    sa.Column('row_id', sa.Integer(), nullable=True),
    sa.Column('patient_id', sa.Integer(), nullable=True),
    sa.Column('detail', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit'))
    )
    with op.batch_alter_table('audit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_patient_id'), ['patient_id'], unique=False)

    op.create_table('patients',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('identifier', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('date_of_birth', sa.Date(), nullable=True),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_patients')),
    sa.UniqueConstraint('identifier', name=op.f('uq_patients_identifier'))
    )
    op.create_table('visits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('date', sa.Date(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('clinician', sa.String(length=64), nullable=False),
    sa.Column('consent', sa.Boolean(), nullable=False),
    sa.Column('consent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('product', sa.String(length=200), nullable=True),
    sa.Column('lot', sa.String(length=64), nullable=True),
    sa.Column('lot_expiry', sa.Date(), nullable=True),
    sa.Column('dilution_ml', sa.Float(), nullable=True),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('completes_visit_id', sa.Integer(), nullable=True),
    sa.Column('plan_json', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("completes_visit_id IS NULL OR kind = 'touch_up'", name=op.f('ck_visits_completes_touch_up')),
    sa.CheckConstraint("kind IN ('initial', 'review', 'touch_up')", name=op.f('ck_visits_kind')),
    sa.CheckConstraint('consent_at IS NULL OR consent', name=op.f('ck_visits_consent_at')),
    sa.CheckConstraint('dilution_ml IS NULL OR dilution_ml > 0', name=op.f('ck_visits_dilution_ml')),
    sa.ForeignKeyConstraint(['completes_visit_id'], ['visits.id'], name=op.f('fk_visits_completes_visit_id_visits')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_visits_patient_id_patients')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_visits'))
    )
    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_visits_completes_visit_id'), ['completes_visit_id'], unique=False)
        batch_op.create_index('ix_visits_patient_date', ['patient_id', 'date'], unique=False)
        batch_op.create_index(batch_op.f('ix_visits_patient_id'), ['patient_id'], unique=False)

    op.create_table('outcomes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('visit_id', sa.Integer(), nullable=False),
    sa.Column('area', sa.String(length=64), nullable=False),
    sa.Column('side', sa.String(length=8), nullable=False),
    sa.Column('movement', sa.Integer(), nullable=False),
    sa.Column('side_effects', sa.JSON(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('recorded_by', sa.String(length=64), nullable=False),
    sa.CheckConstraint("side IN ('left', 'right', 'midline')", name=op.f('ck_outcomes_side')),
    sa.CheckConstraint('movement >= 0 AND movement <= 3', name=op.f('ck_outcomes_movement')),
    sa.ForeignKeyConstraint(['visit_id'], ['visits.id'], name=op.f('fk_outcomes_visit_id_visits')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outcomes')),
    sa.UniqueConstraint('visit_id', 'area', 'side', name='uq_outcomes_visit_area_side')
    )
    with op.batch_alter_table('outcomes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outcomes_visit_id'), ['visit_id'], unique=False)

    op.create_table('photos',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('visit_id', sa.Integer(), nullable=False),
    sa.Column('file_name', sa.String(length=80), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size_bytes', sa.Integer(), nullable=False),
    sa.Column('media_type', sa.String(length=40), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['visit_id'], ['visits.id'], name=op.f('fk_photos_visit_id_visits')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_photos')),
    sa.UniqueConstraint('file_name', name=op.f('uq_photos_file_name'))
    )
    with op.batch_alter_table('photos', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_photos_visit_id'), ['visit_id'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('photos', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_photos_visit_id'))

    op.drop_table('photos')
    with op.batch_alter_table('outcomes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outcomes_visit_id'))

    op.drop_table('outcomes')
    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_visits_patient_id'))
        batch_op.drop_index('ix_visits_patient_date')
        batch_op.drop_index(batch_op.f('ix_visits_completes_visit_id'))

    op.drop_table('visits')
    op.drop_table('patients')
    with op.batch_alter_table('audit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_patient_id'))
        batch_op.drop_index(batch_op.f('ix_audit_at'))

    op.drop_table('audit')

