"""plan reminders are recorded when asked for and marked when their mail went, so a reminder
whose job was lost (Redis flushed, worker killed) is sent by the periodic reconcile

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 19:20:00

Data carried over: every reminder already recorded was sent (the job wrote the row only
then), so it is marked delivered at the moment it was sent.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('plan_reminders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('delivered_at', sa.DateTime(), nullable=True))
        batch_op.create_index('ix_plan_reminders_delivered_at_sent_at',
                              ['delivered_at', 'sent_at'], unique=False)
    op.execute("UPDATE plan_reminders SET delivered_at = sent_at")


def downgrade() -> None:
    with op.batch_alter_table('plan_reminders', schema=None) as batch_op:
        batch_op.drop_index('ix_plan_reminders_delivered_at_sent_at')
        batch_op.drop_column('delivered_at')
