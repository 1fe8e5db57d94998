"""registration modes (open, approval, closed), a waitlist, and the messages they send

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 10:00:00

Data carried over: a webinar whose registration was open is in mode "open", one whose
registration was closed in mode "closed" (`registration_open` stays, kept equal to
mode != closed). Every registration keeps its status (confirmed or cancelled): nobody is
pending or on a waitlist until this version puts them there.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

# Literal lists, not webinars.states: a migration is frozen once released.
OLD_REGISTRATION_STATUSES = "status IN ('confirmed', 'cancelled')"
NEW_REGISTRATION_STATUSES = ("status IN ('confirmed', 'cancelled', 'pending', 'waitlisted', "
                             "'declined')")
OLD_DELIVERY_KINDS = ("kind IN ('invitation', 'update', 'cancellation', 'reminder', 'followup', "
                      "'deadline')")
NEW_DELIVERY_KINDS = ("kind IN ('invitation', 'update', 'cancellation', 'reminder', 'followup', "
                      "'deadline', 'pending', 'waitlisted', 'promoted', 'declined', 'link')")
OLD_EVENT_KINDS = ("kind IN ('webinar.drafted', 'webinar.scheduled', 'webinar.changed', "
                   "'webinar.cancelled', 'registration.confirmed', 'registration.cancelled', "
                   "'meeting.ready', 'meeting.failed', 'delivery.failed')")
NEW_EVENT_KINDS = ("kind IN ('webinar.drafted', 'webinar.scheduled', 'webinar.changed', "
                   "'webinar.cancelled', 'registration.confirmed', 'registration.cancelled', "
                   "'registration.pending', 'registration.waitlisted', "
                   "'registration.declined', 'meeting.ready', 'meeting.failed', "
                   "'delivery.failed')")


def upgrade() -> None:
    with op.batch_alter_table('webinars', schema=None) as batch_op:
        batch_op.add_column(sa.Column('registration_mode', sa.String(length=20),
                                      server_default='open', nullable=False))
    op.execute("UPDATE webinars SET registration_mode = 'closed' "
               "WHERE registration_open = FALSE")
    with op.batch_alter_table('webinars', schema=None) as batch_op:
        batch_op.create_check_constraint(
            op.f('ck_webinars_registration_mode'),
            "registration_mode IN ('open', 'approval', 'closed')")

    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('queued_at', sa.DateTime(), nullable=True))
        batch_op.drop_constraint(op.f('ck_registrations_status'), type_='check')
        batch_op.create_check_constraint(op.f('ck_registrations_status'),
                                         NEW_REGISTRATION_STATUSES)

    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_deliveries_kind'), type_='check')
        batch_op.create_check_constraint(op.f('ck_deliveries_kind'), NEW_DELIVERY_KINDS)

    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_events_kind'), type_='check')
        batch_op.create_check_constraint(op.f('ck_events_kind'), NEW_EVENT_KINDS)


def downgrade() -> None:
    # Rows of the new kinds and states have no meaning before 0007: refuse rather than lose.
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_events_kind'), type_='check')
        batch_op.create_check_constraint(op.f('ck_events_kind'), OLD_EVENT_KINDS)
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_deliveries_kind'), type_='check')
        batch_op.create_check_constraint(op.f('ck_deliveries_kind'), OLD_DELIVERY_KINDS)
    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_registrations_status'), type_='check')
        batch_op.create_check_constraint(op.f('ck_registrations_status'),
                                         OLD_REGISTRATION_STATUSES)
        batch_op.drop_column('queued_at')
    with op.batch_alter_table('webinars', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_webinars_registration_mode'), type_='check')
        batch_op.drop_column('registration_mode')
