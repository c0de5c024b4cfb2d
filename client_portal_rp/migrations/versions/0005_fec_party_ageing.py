"""Each FEC import's open items summed per third party and ageing bucket (fec_party_ageing):
the échéancier reads these sums instead of summing the items per request (docs/adr/0027).
The imports already made get theirs here, as `fec/schedules.store_ageing` writes them.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04

"""
from datetime import timedelta

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

# The buckets in days overdue at the reporting date R (the import's period end), as
# fec/schedules.py ages them: not due (due >= R), 1-30, 31-60, 61-90, over 90; a negative
# amount (payment or credit note not lettered) is never aged: its own column.
BACKFILL = sa.text(
    """
    INSERT INTO fec_party_ageing (import_id, side, party, item_count, not_due, days_1_30,
        days_31_60, days_61_90, over_90, credits, total)
    SELECT import_id, side, party, COUNT(*),
        SUM(CASE WHEN amount >= 0 AND due_date >= :r0 THEN amount ELSE 0 END),
        SUM(CASE WHEN amount >= 0 AND due_date >= :r30 AND due_date < :r0 THEN amount ELSE 0 END),
        SUM(CASE WHEN amount >= 0 AND due_date >= :r60 AND due_date < :r30 THEN amount ELSE 0 END),
        SUM(CASE WHEN amount >= 0 AND due_date >= :r90 AND due_date < :r60 THEN amount ELSE 0 END),
        SUM(CASE WHEN amount >= 0 AND due_date < :r90 THEN amount ELSE 0 END),
        SUM(CASE WHEN amount < 0 THEN amount ELSE 0 END),
        SUM(amount)
    FROM fec_open_items WHERE import_id = :import_id
    GROUP BY import_id, side, party
    """
).bindparams(*(sa.bindparam(name, type_=sa.Date) for name in ("r0", "r30", "r60", "r90")))


def upgrade():
    op.create_table('fec_party_ageing',
    sa.Column('import_id', sa.Integer(), nullable=False),
    sa.Column('side', sa.String(length=12), nullable=False),
    sa.Column('party', sa.String(length=60), nullable=False),
    sa.Column('item_count', sa.Integer(), nullable=False),
    sa.Column('not_due', sa.BigInteger(), nullable=False),
    sa.Column('days_1_30', sa.BigInteger(), nullable=False),
    sa.Column('days_31_60', sa.BigInteger(), nullable=False),
    sa.Column('days_61_90', sa.BigInteger(), nullable=False),
    sa.Column('over_90', sa.BigInteger(), nullable=False),
    sa.Column('credits', sa.BigInteger(), nullable=False),
    sa.Column('total', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['import_id'], ['fec_imports.id'], name=op.f('fk_fec_party_ageing_import_id_fec_imports'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('import_id', 'side', 'party', name=op.f('pk_fec_party_ageing'))
    )
    with op.batch_alter_table('fec_party_ageing', schema=None) as batch_op:
        batch_op.create_index('ix_fec_party_ageing_total', ['import_id', 'side', 'total', 'party'], unique=False)

    bind = op.get_bind()
    imports = sa.table('fec_imports', sa.column('id', sa.Integer), sa.column('period_end', sa.Date))
    for import_id, period_end in bind.execute(sa.select(imports.c.id, imports.c.period_end)).all():
        edges = {f"r{days}": period_end - timedelta(days=days) for days in (0, 30, 60, 90)}
        bind.execute(BACKFILL, {"import_id": import_id, **edges})


def downgrade():
    with op.batch_alter_table('fec_party_ageing', schema=None) as batch_op:
        batch_op.drop_index('ix_fec_party_ageing_total')

    op.drop_table('fec_party_ageing')
