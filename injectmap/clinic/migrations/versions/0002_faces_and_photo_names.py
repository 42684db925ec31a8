"""a visit's fitted faces (table faces, visits.face_id) and the name a photo was added under

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 14:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('faces',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('visit_id', sa.Integer(), nullable=False),
    sa.Column('face_id', sa.String(length=64), nullable=False),
    sa.Column('photo_id', sa.Integer(), nullable=True),
    sa.Column('face_json', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['photo_id'], ['photos.id'], name=op.f('fk_faces_photo_id_photos')),
    sa.ForeignKeyConstraint(['visit_id'], ['visits.id'], name=op.f('fk_faces_visit_id_visits')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_faces')),
    sa.UniqueConstraint('visit_id', 'face_id', name='uq_faces_visit_face')
    )
    with op.batch_alter_table('faces', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_faces_photo_id'), ['photo_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_faces_visit_id'), ['visit_id'], unique=False)

    with op.batch_alter_table('photos', schema=None) as batch_op:
        batch_op.add_column(sa.Column('display_name', sa.String(length=200), server_default='', nullable=False))

    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.add_column(sa.Column('face_id', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.drop_column('face_id')

    with op.batch_alter_table('photos', schema=None) as batch_op:
        batch_op.drop_column('display_name')

    with op.batch_alter_table('faces', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_faces_visit_id'))
        batch_op.drop_index(batch_op.f('ix_faces_photo_id'))

    op.drop_table('faces')
