"""events and webhooks: the events table and its handlers' progress, webhook endpoints,
messages and attempts, and CHECK constraints on every state and kind

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 13:10:00

Data carried over: every row stays as it is. Deliveries made before have no event; the values
the new CHECK constraints allow are exactly the ones the code has always written.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('webhook_endpoints',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('url', sa.String(length=2000), nullable=False),
    sa.Column('description', sa.String(length=200), nullable=False),
    sa.Column('kinds', sa.JSON(), nullable=False),
    sa.Column('secret_sealed', sa.Text(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('disabled_at', sa.DateTime(), nullable=True),
    sa.Column('disabled_reason', sa.String(length=500), nullable=True),
    sa.Column('owner_notified_at', sa.DateTime(), nullable=True),
    sa.Column('failing_since', sa.DateTime(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['accounts.id'], name=op.f('fk_webhook_endpoints_created_by_id_accounts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_webhook_endpoints_organization_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_endpoints'))
    )
    with op.batch_alter_table('webhook_endpoints', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webhook_endpoints_organization_id'), ['organization_id'], unique=False)

    op.create_table('events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('occurred_at', sa.DateTime(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=True),
    sa.Column('webinar_id', sa.Integer(), nullable=True),
    sa.Column('registration_id', sa.Integer(), nullable=True),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('dispatched_at', sa.DateTime(), nullable=True),
    sa.Column('dispatch_attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('last_error', sa.String(length=1000), nullable=True),
    sa.CheckConstraint("kind IN ('webinar.drafted', 'webinar.scheduled', 'webinar.changed', 'webinar.cancelled', 'registration.confirmed', 'registration.cancelled', 'meeting.ready', 'meeting.failed', 'delivery.failed')", name=op.f('ck_events_kind')),
    sa.ForeignKeyConstraint(['actor_id'], ['accounts.id'], name=op.f('fk_events_actor_id_accounts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_events_organization_id_organizations')),
    sa.ForeignKeyConstraint(['registration_id'], ['registrations.id'], name=op.f('fk_events_registration_id_registrations'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['webinar_id'], ['webinars.id'], name=op.f('fk_events_webinar_id_webinars'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_events'))
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_dispatched_at_occurred_at', ['dispatched_at', 'occurred_at'], unique=False)
        batch_op.create_index('ix_events_organization_id_id', ['organization_id', 'id'], unique=False)
        batch_op.create_index('ix_events_webinar_id_id', ['webinar_id', 'id'], unique=False)
        batch_op.create_index('ix_events_webinar_id_dispatched_at_id', ['webinar_id', 'dispatched_at', 'id'], unique=False)

    op.create_table('event_handlers',
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('handler', sa.String(length=40), nullable=False),
    sa.Column('cursor', sa.Integer(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('done_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_event_handlers_event_id_events'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('event_id', 'handler', name=op.f('pk_event_handlers'))
    )
    op.create_table('webhook_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('endpoint_id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('msg_id', sa.String(length=64), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('due_at', sa.DateTime(), nullable=False),
    sa.Column('enqueued_at', sa.DateTime(), nullable=True),
    sa.Column('lease_until', sa.DateTime(), nullable=True),
    sa.Column('last_status_code', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.String(length=1000), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('sent_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'sending', 'sent', 'failed')", name=op.f('ck_webhook_messages_status')),
    sa.ForeignKeyConstraint(['endpoint_id'], ['webhook_endpoints.id'], name=op.f('fk_webhook_messages_endpoint_id_webhook_endpoints'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_webhook_messages_event_id_events'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_messages')),
    sa.UniqueConstraint('event_id', 'endpoint_id', name=op.f('uq_webhook_messages_event_id')),
    sa.UniqueConstraint('msg_id', name=op.f('uq_webhook_messages_msg_id'))
    )
    with op.batch_alter_table('webhook_messages', schema=None) as batch_op:
        batch_op.create_index('ix_webhook_messages_endpoint_id_id', ['endpoint_id', 'id'], unique=False)
        batch_op.create_index('ix_webhook_messages_status_due', ['status', 'due_at'], unique=False)

    op.create_table('webhook_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('attempted_at', sa.DateTime(), nullable=False),
    sa.Column('succeeded', sa.Boolean(), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('error', sa.String(length=500), nullable=True),
    sa.Column('duration_ms', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['message_id'], ['webhook_messages.id'], name=op.f('fk_webhook_attempts_message_id_webhook_messages'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_attempts'))
    )
    with op.batch_alter_table('webhook_attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webhook_attempts_message_id'), ['message_id'], unique=False)

    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('event_id', sa.Integer(), nullable=True))
        batch_op.create_index('ix_deliveries_event_id_status', ['event_id', 'status'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_deliveries_event_id_events'), 'events', ['event_id'], ['id'], ondelete='SET NULL')

    # Literal lists, not the enums of webinars.states: a migration is frozen once released.
    checks = {
        'organizations': [('level', "level IN ('federal', 'regional', 'municipal', 'primary', 'other')")],
        'roles': [('role', "role IN ('admin', 'organizer')")],
        'webinars': [
            ('kind', "kind IN ('webinar', 'conference', 'training', 'action', 'contest', 'other')"),
            ('status', "status IN ('draft', 'scheduled', 'cancelled', 'finished')"),
            ('visibility', "visibility IN ('public', 'unlisted')"),
        ],
        'meetings': [('status', "status IN ('pending', 'ready', 'failed', 'deleted')")],
        'registrations': [('status', "status IN ('confirmed', 'cancelled')")],
        'deliveries': [
            ('kind', "kind IN ('invitation', 'update', 'cancellation', 'reminder', 'followup')"),
            ('status', "status IN ('pending', 'sending', 'sent', 'failed', 'superseded')"),
        ],
    }
    for table, constraints in checks.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name, condition in constraints:
                batch_op.create_check_constraint(op.f(f"ck_{table}_{name}"), condition)



def downgrade() -> None:
    raise NotImplementedError("0003 adds tables and constraints only; restore a backup")
