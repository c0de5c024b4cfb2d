"""signup by profile: the AGC of a président or directeur d'AGC

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 23:00:00

"""
from alembic import op
import sqlalchemy as sa

import idp.database

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('agc_directors',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('agc_name', sa.String(length=200), nullable=False),
    sa.Column('siren', sa.String(length=9), nullable=False),
    sa.Column('created_at', idp.database.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_agc_directors_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agc_directors')),
    sa.UniqueConstraint('user_id', name=op.f('uq_agc_directors_user_id'))
    )


def downgrade():
    op.drop_table('agc_directors')
