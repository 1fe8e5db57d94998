"""conferencing platforms: organizations' connections (sealed credentials), the meeting's
connection and extra ids, members' personal platform links, attendance, callback receipts

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 15:22:58

Data carried over: every row stays; existing meetings were made without credentials (public
Jitsi, pasted links), so they have no connection and no extra ids.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('platform_connections',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('platform', sa.String(length=30), nullable=False),
    sa.Column('credentials_sealed', sa.Text(), nullable=False),
    sa.Column('hints', sa.JSON(), nullable=False),
    sa.Column('hook_key_hash', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('last_error', sa.String(length=1000), nullable=True),
    sa.Column('checked_at', sa.DateTime(), nullable=True),
    sa.Column('broken_notice_at', sa.DateTime(), nullable=True),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("status IN ('untested', 'ok', 'broken')", name=op.f('ck_platform_connections_status')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_platform_connections_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['updated_by_id'], ['accounts.id'], name=op.f('fk_platform_connections_updated_by_id_accounts'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_platform_connections')),
    sa.UniqueConstraint('hook_key_hash', name=op.f('uq_platform_connections_hook_key_hash')),
    sa.UniqueConstraint('organization_id', 'platform', name=op.f('uq_platform_connections_organization_id'))
    )
    op.create_table('hook_receipts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('connection_id', sa.Integer(), nullable=False),
    sa.Column('dedupe_key', sa.String(length=300), nullable=False),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['connection_id'], ['platform_connections.id'], name=op.f('fk_hook_receipts_connection_id_platform_connections'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hook_receipts')),
    sa.UniqueConstraint('connection_id', 'dedupe_key', name=op.f('uq_hook_receipts_connection_id'))
    )
    with op.batch_alter_table('hook_receipts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_hook_receipts_received_at'), ['received_at'], unique=False)

    op.create_table('attendances',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('webinar_id', sa.Integer(), nullable=False),
    sa.Column('registration_id', sa.Integer(), nullable=True),
    sa.Column('participant_name', sa.String(length=200), nullable=True),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('joined_at', sa.DateTime(), nullable=False),
    sa.Column('left_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint("source IN ('webhook', 'report')", name=op.f('ck_attendances_source')),
    sa.ForeignKeyConstraint(['registration_id'], ['registrations.id'], name=op.f('fk_attendances_registration_id_registrations'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['webinar_id'], ['webinars.id'], name=op.f('fk_attendances_webinar_id_webinars'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_attendances'))
    )
    with op.batch_alter_table('attendances', schema=None) as batch_op:
        batch_op.create_index('ix_attendances_webinar_registration', ['webinar_id', 'registration_id'], unique=False)

    op.create_table('personal_joins',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('meeting_id', sa.Integer(), nullable=False),
    sa.Column('registration_id', sa.Integer(), nullable=False),
    sa.Column('external_meeting_id', sa.String(length=300), nullable=False),
    sa.Column('platform_person_id', sa.String(length=300), nullable=True),
    sa.Column('url', sa.String(length=2000), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['meeting_id'], ['meetings.id'], name=op.f('fk_personal_joins_meeting_id_meetings'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['registration_id'], ['registrations.id'], name=op.f('fk_personal_joins_registration_id_registrations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_personal_joins')),
    sa.UniqueConstraint('registration_id', 'external_meeting_id', name=op.f('uq_personal_joins_registration_id'))
    )
    with op.batch_alter_table('personal_joins', schema=None) as batch_op:
        batch_op.create_index('ix_personal_joins_meeting_person', ['meeting_id', 'platform_person_id'], unique=False)

    with op.batch_alter_table('meetings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('connection_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('extra', sa.JSON(), server_default='{}', nullable=False))
        batch_op.add_column(sa.Column('failure_notified_at', sa.DateTime(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_meetings_connection_id_platform_connections'), 'platform_connections', ['connection_id'], ['id'], ondelete='SET NULL')



def downgrade() -> None:
    with op.batch_alter_table('meetings', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_meetings_connection_id_platform_connections'), type_='foreignkey')
        batch_op.drop_column('failure_notified_at')
        batch_op.drop_column('extra')
        batch_op.drop_column('connection_id')

    with op.batch_alter_table('personal_joins', schema=None) as batch_op:
        batch_op.drop_index('ix_personal_joins_meeting_person')

    op.drop_table('personal_joins')
    with op.batch_alter_table('attendances', schema=None) as batch_op:
        batch_op.drop_index('ix_attendances_webinar_registration')

    op.drop_table('attendances')
    with op.batch_alter_table('hook_receipts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_hook_receipts_received_at'))

    op.drop_table('hook_receipts')
    op.drop_table('platform_connections')
