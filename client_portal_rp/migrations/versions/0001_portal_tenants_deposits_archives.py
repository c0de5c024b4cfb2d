"""The portal's first schema: firms, client companies, people, memberships and invitations,
deposits and missing-piece requests, archives, the audit list, the email outbox, and the
relying party's login records (docs/adr/0024-client-portal.md).

Revision ID: 0001
Revises:
Create Date: 2026-12-03

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    # relying_party/logins.py's table (it creates it itself when missing: same definition).
    op.create_table('rp_logins',
    sa.Column('id_digest', sa.String(length=64), nullable=False),
    sa.Column('issuer', sa.String(length=300), nullable=False),
    sa.Column('client_id', sa.String(length=255), nullable=False),
    sa.Column('sid', sa.String(length=255), nullable=True),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('claims', sa.JSON(), nullable=False),
    sa.Column('id_token', sa.Text(), nullable=False),
    sa.Column('created_at', sa.Float(), nullable=False),
    sa.Column('expires_at', sa.Float(), nullable=False),
    sa.Column('ended_at', sa.Float(), nullable=True),
    sa.Column('end_reason', sa.String(length=20), nullable=True),
    sa.PrimaryKeyConstraint('id_digest'),
    )
    op.create_index('ix_rp_logins_client_sid', 'rp_logins', ['client_id', 'sid'])
    op.create_index('ix_rp_logins_client_subject', 'rp_logins', ['client_id', 'subject'])
    op.create_table('firms',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_firms')),
    sa.UniqueConstraint('public_id', name=op.f('uq_firms_public_id'))
    )
    op.create_table('portal_outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('recipient', sa.String(length=320), nullable=False),
    sa.Column('subject', sa.String(length=300), nullable=False),
    sa.Column('text_body', sa.Text(), nullable=False),
    sa.Column('html_body', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_portal_outbox'))
    )
    with op.batch_alter_table('portal_outbox', schema=None) as batch_op:
        batch_op.create_index('ix_portal_outbox_due', ['sent_at', 'next_attempt_at'], unique=False)

    op.create_table('portal_users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=32), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('email_verified', sa.Boolean(), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_login_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_portal_users')),
    sa.UniqueConstraint('public_id', name=op.f('uq_portal_users_public_id')),
    sa.UniqueConstraint('subject', name=op.f('uq_portal_users_subject'))
    )
    op.create_table('companies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=32), nullable=False),
    sa.Column('firm_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('siren', sa.String(length=9), nullable=False),
    sa.Column('exercice_start', sa.Date(), nullable=True),
    sa.Column('exercice_end', sa.Date(), nullable=True),
    sa.Column('advanced_modules', sa.String(length=100), nullable=False),
    sa.Column('mailbox_token', sa.String(length=40), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['firm_id'], ['firms.id'], name=op.f('fk_companies_firm_id_firms')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_companies')),
    sa.UniqueConstraint('mailbox_token', name=op.f('uq_companies_mailbox_token')),
    sa.UniqueConstraint('public_id', name=op.f('uq_companies_public_id')),
    sa.UniqueConstraint('siren', name=op.f('uq_companies_siren'))
    )
    with op.batch_alter_table('companies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_companies_firm_id'), ['firm_id'], unique=False)

    op.create_table('deposit_types',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('firm_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('label', sa.String(length=120), nullable=False),
    sa.Column('data', sa.Boolean(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['firm_id'], ['firms.id'], name=op.f('fk_deposit_types_firm_id_firms')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deposit_types')),
    sa.UniqueConstraint('firm_id', 'code', name='uq_deposit_types_firm_code')
    )
    with op.batch_alter_table('deposit_types', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deposit_types_firm_id'), ['firm_id'], unique=False)

    op.create_table('firm_staff',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('firm_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['firm_id'], ['firms.id'], name=op.f('fk_firm_staff_firm_id_firms')),
    sa.ForeignKeyConstraint(['user_id'], ['portal_users.id'], name=op.f('fk_firm_staff_user_id_portal_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_firm_staff')),
    sa.UniqueConstraint('firm_id', 'user_id', name='uq_firm_staff_firm_user')
    )
    with op.batch_alter_table('firm_staff', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_firm_staff_firm_id'), ['firm_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_firm_staff_user_id'), ['user_id'], unique=False)

    op.create_table('archive_documents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=32), nullable=False),
    sa.Column('company_id', sa.Integer(), nullable=False),
    sa.Column('folder', sa.String(length=20), nullable=False),
    sa.Column('exercice', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('search_name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('blob_sha256', sa.String(length=64), nullable=False),
    sa.Column('published_by_id', sa.Integer(), nullable=True),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("folder IN ('comptables', 'juridiques', 'fiscaux')", name=op.f('ck_archive_documents_folder')),
    sa.ForeignKeyConstraint(['company_id'], ['companies.id'], name=op.f('fk_archive_documents_company_id_companies')),
    sa.ForeignKeyConstraint(['published_by_id'], ['portal_users.id'], name=op.f('fk_archive_documents_published_by_id_portal_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_archive_documents')),
    sa.UniqueConstraint('public_id', name=op.f('uq_archive_documents_public_id'))
    )
    with op.batch_alter_table('archive_documents', schema=None) as batch_op:
        batch_op.create_index('ix_archive_documents_company_folder', ['company_id', 'folder', 'published_at'], unique=False)
        batch_op.create_index('ix_archive_documents_company_published', ['company_id', 'published_at'], unique=False)
        batch_op.create_index('ix_archive_documents_company_search', ['company_id', 'folder', 'exercice', 'search_name'], unique=False)

    op.create_table('invitations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=32), nullable=False),
    sa.Column('token_digest', sa.String(length=64), nullable=False),
    sa.Column('firm_id', sa.Integer(), nullable=False),
    sa.Column('company_id', sa.Integer(), nullable=True),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('role', sa.String(length=10), nullable=False),
    sa.Column('modules', sa.String(length=100), nullable=False),
    sa.Column('invited_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('accepted_by_id', sa.Integer(), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("role IN ('admin', 'user')", name=op.f('ck_invitations_role')),
    sa.ForeignKeyConstraint(['accepted_by_id'], ['portal_users.id'], name=op.f('fk_invitations_accepted_by_id_portal_users')),
    sa.ForeignKeyConstraint(['company_id'], ['companies.id'], name=op.f('fk_invitations_company_id_companies')),
    sa.ForeignKeyConstraint(['firm_id'], ['firms.id'], name=op.f('fk_invitations_firm_id_firms')),
    sa.ForeignKeyConstraint(['invited_by_id'], ['portal_users.id'], name=op.f('fk_invitations_invited_by_id_portal_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invitations')),
    sa.UniqueConstraint('public_id', name=op.f('uq_invitations_public_id')),
    sa.UniqueConstraint('token_digest', name=op.f('uq_invitations_token_digest'))
    )
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_invitations_company_id'), ['company_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_invitations_email'), ['email'], unique=False)
        batch_op.create_index(batch_op.f('ix_invitations_firm_id'), ['firm_id'], unique=False)

    op.create_table('memberships',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('company_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=10), nullable=False),
    sa.Column('can_deposit', sa.Boolean(), nullable=False),
    sa.Column('can_compta', sa.Boolean(), nullable=False),
    sa.Column('can_archives', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("role IN ('admin', 'user')", name=op.f('ck_memberships_role')),
    sa.ForeignKeyConstraint(['company_id'], ['companies.id'], name=op.f('fk_memberships_company_id_companies')),
    sa.ForeignKeyConstraint(['user_id'], ['portal_users.id'], name=op.f('fk_memberships_user_id_portal_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_memberships')),
    sa.UniqueConstraint('company_id', 'user_id', name='uq_memberships_company_user')
    )
    with op.batch_alter_table('memberships', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_memberships_company_id'), ['company_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_memberships_user_id'), ['user_id'], unique=False)

    op.create_table('piece_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=32), nullable=False),
    sa.Column('company_id', sa.Integer(), nullable=False),
    sa.Column('asked_by_id', sa.Integer(), nullable=True),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_reminded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['asked_by_id'], ['portal_users.id'], name=op.f('fk_piece_requests_asked_by_id_portal_users')),
    sa.ForeignKeyConstraint(['company_id'], ['companies.id'], name=op.f('fk_piece_requests_company_id_companies')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_piece_requests')),
    sa.UniqueConstraint('public_id', name=op.f('uq_piece_requests_public_id'))
    )
    with op.batch_alter_table('piece_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_piece_requests_company_id'), ['company_id'], unique=False)

    op.create_table('portal_audit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('firm_id', sa.Integer(), nullable=True),
    sa.Column('company_id', sa.Integer(), nullable=True),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor_label', sa.String(length=300), nullable=False),
    sa.Column('action', sa.String(length=60), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['portal_users.id'], name=op.f('fk_portal_audit_actor_id_portal_users')),
    sa.ForeignKeyConstraint(['company_id'], ['companies.id'], name=op.f('fk_portal_audit_company_id_companies')),
    sa.ForeignKeyConstraint(['firm_id'], ['firms.id'], name=op.f('fk_portal_audit_firm_id_firms')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_portal_audit'))
    )
    with op.batch_alter_table('portal_audit', schema=None) as batch_op:
        batch_op.create_index('ix_portal_audit_company_at', ['company_id', 'at'], unique=False)

    op.create_table('deposits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=32), nullable=False),
    sa.Column('company_id', sa.Integer(), nullable=False),
    sa.Column('deposit_type_id', sa.Integer(), nullable=False),
    sa.Column('uploaded_by_id', sa.Integer(), nullable=True),
    sa.Column('source', sa.String(length=10), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('blob_sha256', sa.String(length=64), nullable=False),
    sa.Column('rendition_sha256', sa.String(length=64), nullable=True),
    sa.Column('thumbnail_sha256', sa.String(length=64), nullable=True),
    sa.Column('processing', sa.String(length=10), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('status_changed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('taken_by_id', sa.Integer(), nullable=True),
    sa.Column('firm_note', sa.Text(), nullable=False),
    sa.Column('duplicate_of_id', sa.Integer(), nullable=True),
    sa.Column('piece_request_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("processing IN ('pending', 'done', 'failed', 'none')", name=op.f('ck_deposits_processing')),
    sa.CheckConstraint("status IN ('depose', 'pris_en_charge', 'traite')", name=op.f('ck_deposits_status')),
    sa.ForeignKeyConstraint(['company_id'], ['companies.id'], name=op.f('fk_deposits_company_id_companies')),
    sa.ForeignKeyConstraint(['deposit_type_id'], ['deposit_types.id'], name=op.f('fk_deposits_deposit_type_id_deposit_types')),
    sa.ForeignKeyConstraint(['duplicate_of_id'], ['deposits.id'], name=op.f('fk_deposits_duplicate_of_id_deposits')),
    sa.ForeignKeyConstraint(['piece_request_id'], ['piece_requests.id'], name=op.f('fk_deposits_piece_request_id_piece_requests')),
    sa.ForeignKeyConstraint(['taken_by_id'], ['portal_users.id'], name=op.f('fk_deposits_taken_by_id_portal_users')),
    sa.ForeignKeyConstraint(['uploaded_by_id'], ['portal_users.id'], name=op.f('fk_deposits_uploaded_by_id_portal_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deposits')),
    sa.UniqueConstraint('public_id', name=op.f('uq_deposits_public_id'))
    )
    with op.batch_alter_table('deposits', schema=None) as batch_op:
        batch_op.create_index('ix_deposits_company_created', ['company_id', 'created_at'], unique=False)
        batch_op.create_index('ix_deposits_company_sha256', ['company_id', 'sha256'], unique=False)



def downgrade():
    with op.batch_alter_table('deposits', schema=None) as batch_op:
        batch_op.drop_index('ix_deposits_company_sha256')
        batch_op.drop_index('ix_deposits_company_created')

    op.drop_table('deposits')
    with op.batch_alter_table('portal_audit', schema=None) as batch_op:
        batch_op.drop_index('ix_portal_audit_company_at')

    op.drop_table('portal_audit')
    with op.batch_alter_table('piece_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_piece_requests_company_id'))

    op.drop_table('piece_requests')
    with op.batch_alter_table('memberships', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_memberships_user_id'))
        batch_op.drop_index(batch_op.f('ix_memberships_company_id'))

    op.drop_table('memberships')
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_invitations_firm_id'))
        batch_op.drop_index(batch_op.f('ix_invitations_email'))
        batch_op.drop_index(batch_op.f('ix_invitations_company_id'))

    op.drop_table('invitations')
    with op.batch_alter_table('archive_documents', schema=None) as batch_op:
        batch_op.drop_index('ix_archive_documents_company_search')
        batch_op.drop_index('ix_archive_documents_company_published')
        batch_op.drop_index('ix_archive_documents_company_folder')

    op.drop_table('archive_documents')
    with op.batch_alter_table('firm_staff', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_firm_staff_user_id'))
        batch_op.drop_index(batch_op.f('ix_firm_staff_firm_id'))

    op.drop_table('firm_staff')
    with op.batch_alter_table('deposit_types', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deposit_types_firm_id'))

    op.drop_table('deposit_types')
    with op.batch_alter_table('companies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_companies_firm_id'))

    op.drop_table('companies')
    op.drop_table('portal_users')
    with op.batch_alter_table('portal_outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_portal_outbox_due')

    op.drop_table('portal_outbox')
    op.drop_table('firms')
    op.drop_index('ix_rp_logins_client_subject', table_name='rp_logins')
    op.drop_index('ix_rp_logins_client_sid', table_name='rp_logins')
    op.drop_table('rp_logins')
