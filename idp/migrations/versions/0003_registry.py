"""the Order's registry: regional councils (seeded), entries, imports, claims, council roles

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 22:00:00

"""
from alembic import op
import sqlalchemy as sa

import idp.database

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

from idp.registry.councils_seed import COUNCILS

SEARCH_KEY = sa.String(length=255).with_variant(sa.String(length=255, collation="C"), "postgresql")
CATEGORIES = "'cafcac', 'ece', 'expert-comptable', 'honoraire', 'memorialiste', 'salarie-agc', 'stagiaire'"
IMPORT_STATUSES = "'pending', 'running', 'previewed', 'applied', 'refused', 'cancelled', 'failed'"


def upgrade():
    councils = op.create_table('regional_councils',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=8), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('phone', sa.String(length=40), nullable=False),
    sa.Column('postal_address', sa.String(length=300), nullable=False),
    sa.Column('website', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_regional_councils')),
    sa.UniqueConstraint('code', name=op.f('uq_regional_councils_code'))
    )
    op.bulk_insert(councils, [dict(council) for council in COUNCILS])
    op.create_table('registry_imports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=32), nullable=False),
    sa.Column('council_id', sa.Integer(), nullable=False),
    sa.Column('actor_kind', sa.String(length=16), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('file_name', sa.String(length=255), nullable=False),
    sa.Column('file_sha256', sa.String(length=64), nullable=False),
    sa.Column('file_size', sa.Integer(), nullable=False),
    sa.Column('full', sa.Boolean(), nullable=False),
    sa.Column('allow_partial', sa.Boolean(), nullable=False),
    sa.Column('dry_run', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', idp.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', idp.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('applied_at', idp.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('rows_processed', sa.Integer(), nullable=False),
    sa.Column('rows_total', sa.Integer(), nullable=True),
    sa.Column('added', sa.Integer(), nullable=False),
    sa.Column('changed', sa.Integer(), nullable=False),
    sa.Column('unchanged', sa.Integer(), nullable=False),
    sa.Column('struck_off', sa.Integer(), nullable=False),
    sa.Column('rejected', sa.Integer(), nullable=False),
    sa.Column('summary', sa.JSON(), nullable=False),
    sa.Column('report_csv', sa.Text(), nullable=False),
    sa.CheckConstraint(f"status IN ({IMPORT_STATUSES})", name=op.f('ck_registry_imports_status_known')),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_registry_imports_actor_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['council_id'], ['regional_councils.id'], name=op.f('fk_registry_imports_council_id_regional_councils')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_registry_imports')),
    sa.UniqueConstraint('public_id', name=op.f('uq_registry_imports_public_id'))
    )
    op.create_index('ix_registry_imports_council_id_created_at', 'registry_imports', ['council_id', 'created_at'], unique=False)
    op.create_table('registry_import_uploads',
    sa.Column('import_id', sa.Integer(), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['import_id'], ['registry_imports.id'], name=op.f('fk_registry_import_uploads_import_id_registry_imports'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('import_id', name=op.f('pk_registry_import_uploads'))
    )
    op.create_table('registry_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('registration_number', sa.String(length=20), nullable=False),
    sa.Column('family_name', sa.String(length=100), nullable=False),
    sa.Column('given_names', sa.String(length=150), nullable=False),
    sa.Column('birth_date', sa.Date(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('council_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('firm_name', sa.String(length=200), nullable=True),
    sa.Column('firm_siren', sa.String(length=9), nullable=True),
    sa.Column('search_key', SEARCH_KEY, nullable=False),
    sa.Column('last_import_id', sa.Integer(), nullable=True),
    sa.Column('created_at', idp.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', idp.database.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint(f"category IN ({CATEGORIES})", name=op.f('ck_registry_entries_category_known')),
    sa.CheckConstraint("status IN ('inscrit', 'suspendu', 'radie')", name=op.f('ck_registry_entries_status_known')),
    sa.ForeignKeyConstraint(['council_id'], ['regional_councils.id'], name=op.f('fk_registry_entries_council_id_regional_councils')),
    sa.ForeignKeyConstraint(['last_import_id'], ['registry_imports.id'], name=op.f('fk_registry_entries_last_import_id_registry_imports'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_registry_entries')),
    sa.UniqueConstraint('registration_number', name=op.f('uq_registry_entries_registration_number'))
    )
    op.create_index('ix_registry_entries_search_key', 'registry_entries', ['search_key'], unique=False)
    op.create_index('ix_registry_entries_council_id_status', 'registry_entries', ['council_id', 'status'], unique=False)
    op.create_table('profile_claims',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('registry_entry_id', sa.Integer(), nullable=False),
    sa.Column('created_at', idp.database.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['registry_entry_id'], ['registry_entries.id'], name=op.f('fk_profile_claims_registry_entry_id_registry_entries')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_profile_claims_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_profile_claims')),
    sa.UniqueConstraint('registry_entry_id', name=op.f('uq_profile_claims_registry_entry_id'))
    )
    op.create_index(op.f('ix_profile_claims_user_id'), 'profile_claims', ['user_id'], unique=False)
    op.create_table('council_administrators',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('council_id', sa.Integer(), nullable=True),
    sa.Column('granted_at', idp.database.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['council_id'], ['regional_councils.id'], name=op.f('fk_council_administrators_council_id_regional_councils'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_council_administrators_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_council_administrators')),
    sa.UniqueConstraint('user_id', 'council_id', name=op.f('uq_council_administrators_user_id'))
    )
    op.create_index(op.f('ix_council_administrators_user_id'), 'council_administrators', ['user_id'], unique=False)


def downgrade():
    op.drop_table('council_administrators')
    op.drop_table('profile_claims')
    op.drop_table('registry_entries')
    op.drop_table('registry_import_uploads')
    op.drop_table('registry_imports')
    op.drop_table('regional_councils')
