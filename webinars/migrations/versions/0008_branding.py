"""branding: an organization's own logo (re-encoded PNG, stored in the database so every web
process serves it), colour and short description, inherited by its subtree

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 10:00:00

Data carried over: nothing changes; no organization has a brand yet, so every page and
e-mail looks as before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('organization_brands',
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('color', sa.String(length=7), nullable=True),
    sa.Column('description', sa.String(length=300), nullable=True),
    sa.Column('logo_png', sa.LargeBinary(), nullable=True),
    sa.Column('logo_version', sa.String(length=16), nullable=True),
    sa.Column('logo_width', sa.Integer(), nullable=True),
    sa.Column('logo_height', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_organization_brands_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('organization_id', name=op.f('pk_organization_brands'))
    )


def downgrade() -> None:
    op.drop_table('organization_brands')
