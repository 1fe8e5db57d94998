"""hardening: hashed feed tokens, proven addresses, sessions, limits, worker heartbeats

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 10:00:00

Data carried over:
- every personal feed keeps working at its address: its token is replaced by the token's
  SHA-256, and it is tied to the member's earliest registration in its organization;
- deliveries made before get their random Message-ID when a worker first claims them;
- failed logins move to the shared `rate_events` table.
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()

    op.create_table('rate_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=300), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rate_events'))
    )
    op.create_index('ix_rate_events_key_at', 'rate_events', ['key', 'at'], unique=False)
    op.execute("INSERT INTO rate_events (key, at) SELECT key, at FROM login_attempts")
    op.drop_index(op.f('ix_login_attempts_key'), table_name='login_attempts')
    op.drop_table('login_attempts')

    op.create_table('worker_processes',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('heartbeat_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_worker_processes'))
    )
    op.create_table('login_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('session_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_login_sessions_account_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_sessions')),
    sa.UniqueConstraint('session_hash', name=op.f('uq_login_sessions_session_hash'))
    )
    op.create_index(op.f('ix_login_sessions_account_id'), 'login_sessions', ['account_id'], unique=False)

    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_by', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('message_id', sa.String(length=300), nullable=True))

    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('plan_changed_at', sa.DateTime(), nullable=True))

    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('address_confirmed_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('registered_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('reminders_off', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('sequence_offset', sa.Integer(), server_default='0', nullable=False))
        batch_op.create_foreign_key(batch_op.f('fk_registrations_registered_by_id_accounts'), 'accounts', ['registered_by_id'], ['id'], ondelete='SET NULL')

    with op.batch_alter_table('member_feeds', schema=None) as batch_op:
        batch_op.add_column(sa.Column('registration_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('token_hash', sa.String(length=64), nullable=True))
    feeds = sa.table('member_feeds', sa.column('id', sa.Integer), sa.column('token', sa.String),
                     sa.column('token_hash', sa.String), sa.column('registration_id', sa.Integer),
                     sa.column('email_normalized', sa.String),
                     sa.column('organization_id', sa.Integer))
    registrations = sa.table('registrations', sa.column('id', sa.Integer),
                             sa.column('email_normalized', sa.String),
                             sa.column('organization_id', sa.Integer),
                             sa.column('webinar_id', sa.Integer))
    webinars = sa.table('webinars', sa.column('id', sa.Integer),
                        sa.column('organization_id', sa.Integer))
    for feed_id, token, address, org_id in bind.execute(sa.select(
            feeds.c.id, feeds.c.token, feeds.c.email_normalized, feeds.c.organization_id)).all():
        origin = bind.execute(
            sa.select(registrations.c.id)
            .join(webinars, webinars.c.id == registrations.c.webinar_id)
            .where(registrations.c.email_normalized == address,
                   sa.func.coalesce(registrations.c.organization_id,
                                    webinars.c.organization_id) == org_id)
            .order_by(registrations.c.id).limit(1)).scalar()
        bind.execute(feeds.update().where(feeds.c.id == feed_id).values(
            token_hash=hashlib.sha256(token.encode()).hexdigest(), registration_id=origin))

    with op.batch_alter_table('member_feeds', schema=None) as batch_op:
        batch_op.alter_column('token_hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.drop_constraint(batch_op.f('uq_member_feeds_token'), type_='unique')
        batch_op.create_index(batch_op.f('ix_member_feeds_registration_id'), ['registration_id'], unique=False)
        batch_op.create_unique_constraint(batch_op.f('uq_member_feeds_token_hash'), ['token_hash'])
        batch_op.create_foreign_key(batch_op.f('fk_member_feeds_registration_id_registrations'), 'registrations', ['registration_id'], ['id'], ondelete='SET NULL')
        batch_op.drop_column('token')


def downgrade() -> None:
    raise NotImplementedError("feed tokens are stored as hashes from 0002 on; restore a backup")
