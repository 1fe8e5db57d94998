"""the yearly plan: indicative items (status "planned", plan_period), copies linked to their
original, periods (all-day, end date, deadline), adoptions down the tree and reminders to
adopt

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 16:20:00

Data carried over: every webinar stays as it is: no source, no plan period, not all-day.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('adoptions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('webinar_id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('copy_id', sa.Integer(), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('contact', sa.String(length=200), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("kind IN ('join', 'copy')", name=op.f('ck_adoptions_kind')),
    sa.ForeignKeyConstraint(['copy_id'], ['webinars.id'], name=op.f('fk_adoptions_copy_id_webinars'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['created_by_id'], ['accounts.id'], name=op.f('fk_adoptions_created_by_id_accounts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_adoptions_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['webinar_id'], ['webinars.id'], name=op.f('fk_adoptions_webinar_id_webinars'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_adoptions')),
    sa.UniqueConstraint('webinar_id', 'organization_id', name=op.f('uq_adoptions_webinar_id'))
    )
    with op.batch_alter_table('adoptions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_adoptions_copy_id'), ['copy_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_adoptions_organization_id'), ['organization_id'], unique=False)

    op.create_table('plan_reminders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('webinar_id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('sent_by_id', sa.Integer(), nullable=True),
    sa.Column('sent_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_plan_reminders_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['sent_by_id'], ['accounts.id'], name=op.f('fk_plan_reminders_sent_by_id_accounts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['webinar_id'], ['webinars.id'], name=op.f('fk_plan_reminders_webinar_id_webinars'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plan_reminders'))
    )
    with op.batch_alter_table('plan_reminders', schema=None) as batch_op:
        batch_op.create_index('ix_plan_reminders_webinar_org', ['webinar_id', 'organization_id'], unique=False)

    with op.batch_alter_table('webinars', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('plan_period', sa.String(length=7), nullable=True))
        batch_op.add_column(sa.Column('all_day', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('end_date', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('deadline_at', sa.DateTime(), nullable=True))
        batch_op.create_index(batch_op.f('ix_webinars_source_id'), ['source_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_webinars_source_id_webinars'), 'webinars', ['source_id'], ['id'], ondelete='SET NULL')
        # A literal list, not webinars.states: a migration is frozen once released.
        batch_op.drop_constraint(op.f('ck_webinars_status'), type_='check')
        batch_op.create_check_constraint(
            op.f('ck_webinars_status'),
            "status IN ('draft', 'planned', 'scheduled', 'cancelled', 'finished')")

    # A period's submission deadline is reminded of by a delivery of its own kind.
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_deliveries_kind'), type_='check')
        batch_op.create_check_constraint(
            op.f('ck_deliveries_kind'),
            "kind IN ('invitation', 'update', 'cancellation', 'reminder', 'followup', "
            "'deadline')")

    # Courses and recurring series: the rule on the webinar, one row per session.
    with op.batch_alter_table('webinars', schema=None) as batch_op:
        batch_op.add_column(sa.Column('series_rule', sa.JSON(), nullable=True))

    op.create_table('webinar_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('webinar_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('start_at', sa.DateTime(), nullable=False),
    sa.Column('original_start', sa.DateTime(), nullable=False),
    sa.Column('duration_minutes', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.CheckConstraint("status IN ('scheduled', 'cancelled')", name=op.f('ck_webinar_sessions_status')),
    sa.ForeignKeyConstraint(['webinar_id'], ['webinars.id'], name=op.f('fk_webinar_sessions_webinar_id_webinars'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webinar_sessions')),
    sa.UniqueConstraint('webinar_id', 'position', name=op.f('uq_webinar_sessions_webinar_id'))
    )

    # A reminder of one session of a series names it.
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_deliveries_session_id_webinar_sessions'), 'webinar_sessions', ['session_id'], ['id'], ondelete='SET NULL')


def downgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_deliveries_session_id_webinar_sessions'), type_='foreignkey')
        batch_op.drop_column('session_id')
    op.drop_table('webinar_sessions')
    with op.batch_alter_table('webinars', schema=None) as batch_op:
        batch_op.drop_column('series_rule')

    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_deliveries_kind'), type_='check')
        batch_op.create_check_constraint(
            op.f('ck_deliveries_kind'),
            "kind IN ('invitation', 'update', 'cancellation', 'reminder', 'followup')")

    with op.batch_alter_table('webinars', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_webinars_source_id_webinars'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_webinars_source_id'))
        batch_op.drop_column('deadline_at')
        batch_op.drop_column('end_date')
        batch_op.drop_column('all_day')
        batch_op.drop_column('plan_period')
        batch_op.drop_column('source_id')

    with op.batch_alter_table('plan_reminders', schema=None) as batch_op:
        batch_op.drop_index('ix_plan_reminders_webinar_org')

    op.drop_table('plan_reminders')
    with op.batch_alter_table('adoptions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_adoptions_organization_id'))
        batch_op.drop_index(batch_op.f('ix_adoptions_copy_id'))

    op.drop_table('adoptions')
