"""Deposits remember the Idempotency-Key they were sent with (the installable app's offline
queue and the API send a deposit again until they read its answer: docs/adr/0026).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03

"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('deposits', schema=None) as batch_op:
        batch_op.add_column(sa.Column('idempotency_key', sa.String(length=64), nullable=True))
        batch_op.create_index(
            'uq_deposits_idempotency',
            ['company_id', 'uploaded_by_id', 'idempotency_key'],
            unique=True,
        )


def downgrade():
    with op.batch_alter_table('deposits', schema=None) as batch_op:
        batch_op.drop_index('uq_deposits_idempotency')
        batch_op.drop_column('idempotency_key')
