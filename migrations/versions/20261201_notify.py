"""Notifications: events, inbox items, email contacts, webhook subscriptions, the outbox
and its attempt log.

Revision ID: 20261201_notify
Revises: 20261201_patient_account
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '20261201_notify'
down_revision: str | None = '20261201_patient_account'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('notification',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('subject_ref', sa.String(length=64), nullable=False),
    sa.Column('title_zh', sa.String(length=200), nullable=False),
    sa.Column('title_en', sa.String(length=200), nullable=False),
    sa.Column('body_zh', sa.Text(), nullable=False),
    sa.Column('body_en', sa.Text(), nullable=False),
    sa.Column('link', sa.String(length=300), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification')),
    sa.UniqueConstraint('event_id', name=op.f('uq_notification_event_id'))
    )
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notification_kind'), ['kind'], unique=False)

    op.create_table('inbox_item',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('notification_id', sa.Integer(), nullable=False),
    sa.Column('read_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['notification_id'], ['notification.id'], name=op.f('fk_inbox_item_notification_id_notification')),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_inbox_item_user_id_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inbox_item')),
    sa.UniqueConstraint('user_id', 'notification_id', name=op.f('uq_inbox_item_user_id_notification_id'))
    )
    with op.batch_alter_table('inbox_item', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inbox_item_notification_id'), ['notification_id'], unique=False)
        batch_op.create_index('ix_inbox_item_user_unread', ['user_id', 'read_at'], unique=False)

    op.create_table('notification_contact',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('email_enabled', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_notification_contact_user_id_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_contact')),
    sa.UniqueConstraint('user_id', name=op.f('uq_notification_contact_user_id'))
    )
    op.create_table('webhook_subscription',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('url', sa.String(length=500), nullable=False),
    sa.Column('kinds', sa.String(length=500), nullable=False),
    sa.Column('description', sa.String(length=200), nullable=False),
    sa.Column('secret_encrypted', sa.String(length=200), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by_user_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_user_id'], ['app_user.id'], name=op.f('fk_webhook_subscription_created_by_user_id_app_user')),
    sa.ForeignKeyConstraint(['institution_id'], ['institution.id'], name=op.f('fk_webhook_subscription_institution_id_institution')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_subscription'))
    )
    with op.batch_alter_table('webhook_subscription', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webhook_subscription_institution_id'), ['institution_id'], unique=False)

    op.create_table('outbox_message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('delivery_id', sa.String(length=36), nullable=False),
    sa.Column('notification_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.Enum('webhook', 'email', name='channel', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('subscription_id', sa.Integer(), nullable=True),
    sa.Column('institution_id', sa.Integer(), nullable=True),
    sa.Column('recipient', sa.String(length=500), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('status', sa.Enum('pending', 'delivered', 'dead', name='outboxstatus', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('claim_token', sa.String(length=36), nullable=False),
    sa.Column('last_error', sa.String(length=500), nullable=False),
    sa.Column('last_status_code', sa.Integer(), nullable=True),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['institution_id'], ['institution.id'], name=op.f('fk_outbox_message_institution_id_institution')),
    sa.ForeignKeyConstraint(['notification_id'], ['notification.id'], name=op.f('fk_outbox_message_notification_id_notification')),
    sa.ForeignKeyConstraint(['subscription_id'], ['webhook_subscription.id'], name=op.f('fk_outbox_message_subscription_id_webhook_subscription')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_message')),
    sa.UniqueConstraint('delivery_id', name=op.f('uq_outbox_message_delivery_id'))
    )
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_message_due', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbox_message_institution_id'), ['institution_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbox_message_notification_id'), ['notification_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbox_message_subscription_id'), ['subscription_id'], unique=False)

    op.create_table('outbox_attempt',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('outcome', sa.Enum('delivered', 'failed', 'gave_up', name='attemptoutcome', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('error', sa.String(length=500), nullable=False),
    sa.Column('duration_ms', sa.Integer(), nullable=False),
    sa.Column('worker', sa.String(length=64), nullable=False),
    sa.Column('attempted_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['message_id'], ['outbox_message.id'], name=op.f('fk_outbox_attempt_message_id_outbox_message')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_attempt'))
    )
    with op.batch_alter_table('outbox_attempt', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbox_attempt_message_id'), ['message_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('outbox_attempt', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_attempt_message_id'))

    op.drop_table('outbox_attempt')
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_message_subscription_id'))
        batch_op.drop_index(batch_op.f('ix_outbox_message_notification_id'))
        batch_op.drop_index(batch_op.f('ix_outbox_message_institution_id'))
        batch_op.drop_index('ix_outbox_message_due')

    op.drop_table('outbox_message')
    with op.batch_alter_table('webhook_subscription', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_webhook_subscription_institution_id'))

    op.drop_table('webhook_subscription')
    op.drop_table('notification_contact')
    with op.batch_alter_table('inbox_item', schema=None) as batch_op:
        batch_op.drop_index('ix_inbox_item_user_unread')
        batch_op.drop_index(batch_op.f('ix_inbox_item_notification_id'))

    op.drop_table('inbox_item')
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notification_kind'))

    op.drop_table('notification')
