"""audit actor and subject, credential epochs, anonymous email requests

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 19:00:00

"""
from alembic import op
import sqlalchemy as sa

import idp.database

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

ACTOR_KINDS = "'user', 'anonymous', 'cli', 'system'"


def upgrade():
    op.create_table('account_email_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('identifier', sa.String(length=254), nullable=False),
    sa.Column('locale', sa.String(length=8), nullable=False),
    sa.Column('created_at', idp.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('processed_at', idp.database.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_account_email_requests'))
    )
    op.create_index(op.f('ix_account_email_requests_processed_at'), 'account_email_requests', ['processed_at'], unique=False)

    # Plain ALTERs (no table rebuild on SQLite: the users table carries the identity triggers).
    op.add_column('users', sa.Column('credential_epoch', sa.Integer(), nullable=False, server_default='0'))
    op.add_column('user_sessions', sa.Column('credential_epoch', sa.Integer(), nullable=False, server_default='0'))

    # The old user_id becomes the subject; past events were self-service (or anonymous).
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('subject_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('actor_kind', sa.String(length=16), nullable=False, server_default='system'))
        batch_op.add_column(sa.Column('actor_id', sa.Integer(), nullable=True))
    op.execute("UPDATE audit_events SET subject_id = user_id, actor_id = user_id, "
               "actor_kind = CASE WHEN user_id IS NULL THEN 'anonymous' ELSE 'user' END")
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_events_user_id_occurred_at')
        batch_op.drop_constraint('fk_audit_events_user_id_users', type_='foreignkey')
        batch_op.drop_column('user_id')
        batch_op.create_index('ix_audit_events_actor_id', ['actor_id'], unique=False)
        batch_op.create_index('ix_audit_events_subject_id_occurred_at', ['subject_id', 'occurred_at'], unique=False)
        batch_op.create_foreign_key('fk_audit_events_subject_id_users', 'users', ['subject_id'], ['id'], ondelete='SET NULL')
        batch_op.create_foreign_key('fk_audit_events_actor_id_users', 'users', ['actor_id'], ['id'], ondelete='SET NULL')
        batch_op.create_check_constraint(batch_op.f('ck_audit_events_actor_kind_known'), f"actor_kind IN ({ACTOR_KINDS})")


def downgrade():
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('user_id', sa.Integer(), nullable=True))
    op.execute("UPDATE audit_events SET user_id = subject_id")
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_audit_events_actor_kind_known'), type_='check')
        batch_op.drop_constraint('fk_audit_events_actor_id_users', type_='foreignkey')
        batch_op.drop_constraint('fk_audit_events_subject_id_users', type_='foreignkey')
        batch_op.drop_index('ix_audit_events_subject_id_occurred_at')
        batch_op.drop_index('ix_audit_events_actor_id')
        batch_op.drop_column('actor_id')
        batch_op.drop_column('actor_kind')
        batch_op.drop_column('subject_id')
        batch_op.create_index('ix_audit_events_user_id_occurred_at', ['user_id', 'occurred_at'], unique=False)
        batch_op.create_foreign_key('fk_audit_events_user_id_users', 'users', ['user_id'], ['id'], ondelete='SET NULL')
    op.drop_column('user_sessions', 'credential_epoch')
    op.drop_column('users', 'credential_epoch')
    op.drop_index(op.f('ix_account_email_requests_processed_at'), table_name='account_email_requests')
    op.drop_table('account_email_requests')
