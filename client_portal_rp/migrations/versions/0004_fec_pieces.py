"""The piece references each FEC import's lines carry (their keys, in buckets): the drill-down
serves a deposit to the compta module only under a reference of the company's books
(docs/adr/0027). Imports made under 0003 alone have none (0003 and 0004 ship together):
import their FEC again.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('fec_pieces',
    sa.Column('import_id', sa.Integer(), nullable=False),
    sa.Column('bucket', sa.String(length=8), nullable=False),
    sa.Column('keys', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['import_id'], ['fec_imports.id'], name=op.f('fk_fec_pieces_import_id_fec_imports'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('import_id', 'bucket', name=op.f('pk_fec_pieces'))
    )


def downgrade():
    op.drop_table('fec_pieces')
