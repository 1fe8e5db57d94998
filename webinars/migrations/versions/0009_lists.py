"""lists: every list page is paged by an indexed query; feeds are versioned per organization

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 12:00:00

Adds `webinars.ends_at` (when the whole event is over: the end of a series' last held
session, else start + duration) and `long_running` (over a day after its start) with an index
by organization, `organizations.plan_version`
(raised with every change a calendar of the plan shows; the feeds' ETag), and the indexes
behind the registrants and deliveries pages.

Data carried over: every webinar gets its `ends_at` and `long_running` computed from its rows as the product
computes it (`series.ends_at`); every organization starts at version 0 (a feed's ETag changes
once, at the upgrade, as its format does).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

WEBINARS = sa.table('webinars', sa.column('id', sa.Integer), sa.column('start_at', sa.DateTime),
                    sa.column('duration_minutes', sa.Integer),
                    sa.column('series_rule', sa.JSON), sa.column('ends_at', sa.DateTime),
                    sa.column('long_running', sa.Boolean))
SESSIONS = sa.table('webinar_sessions', sa.column('webinar_id', sa.Integer),
                    sa.column('start_at', sa.DateTime), sa.column('duration_minutes', sa.Integer),
                    sa.column('status', sa.String))


def upgrade() -> None:
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('plan_version', sa.Integer(), server_default='0',
                                      nullable=False))
    with op.batch_alter_table('webinars', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ends_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('long_running', sa.Boolean(), server_default=sa.false(),
                                      nullable=False))
        batch_op.create_index('ix_webinars_org_long_ends',
                              ['organization_id', 'long_running', 'ends_at'], unique=False)
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_deliveries_webinar_id_status', ['webinar_id', 'status'],
                              unique=False)
    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.create_index('ix_registrations_webinar_id_created_at_id',
                              ['webinar_id', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_registrations_webinar_id_status_id',
                              ['webinar_id', 'status', 'id'], unique=False)
    fill_ends_at()


def fill_ends_at() -> None:
    """`series.ends_at` over plain rows: a series (a rule and sessions) ends with its last
    held session (its last session if none is held), anything else after its duration."""
    bind = op.get_bind()
    sessions: dict[int, list[tuple[datetime, bool]]] = {}
    for webinar_id, start, minutes, status in bind.execute(sa.select(
            SESSIONS.c.webinar_id, SESSIONS.c.start_at, SESSIONS.c.duration_minutes,
            SESSIONS.c.status)):
        sessions.setdefault(webinar_id, []).append(
            (start + timedelta(minutes=minutes), status == 'scheduled'))
    for webinar_id, start, minutes, rule in bind.execute(sa.select(
            WEBINARS.c.id, WEBINARS.c.start_at, WEBINARS.c.duration_minutes,
            WEBINARS.c.series_rule)).all():
        own = sessions.get(webinar_id, [])
        if rule is not None and own:
            held = [end for end, scheduled in own if scheduled]
            end = max(held or [end for end, _ in own])
        else:
            end = start + timedelta(minutes=minutes)
        bind.execute(sa.update(WEBINARS).where(WEBINARS.c.id == webinar_id)
                     .values(ends_at=end, long_running=end - start > timedelta(days=1)))


def downgrade() -> None:
    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.drop_index('ix_registrations_webinar_id_status_id')
        batch_op.drop_index('ix_registrations_webinar_id_created_at_id')
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_deliveries_webinar_id_status')
    with op.batch_alter_table('webinars', schema=None) as batch_op:
        batch_op.drop_index('ix_webinars_org_long_ends')
        batch_op.drop_column('long_running')
        batch_op.drop_column('ends_at')
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.drop_column('plan_version')
