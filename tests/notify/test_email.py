"""Email through SMTP, tested against a local aiosmtpd server: sent from the outbox by the
worker thread a server starts when the settings ask for it."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import bearer
from tests.notify.conftest import Network
from yilian.app import create_app
from yilian.config import Settings, get_settings
from yilian.notify import service as notify
from yilian.notify.models import Channel, OutboxMessage, OutboxStatus


class Mailbox:
    """An aiosmtpd handler keeping every message it is given."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        mail = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(mail, EmailMessage)
        self.messages.append((list(envelope.rcpt_tos), mail))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def mailbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Mailbox, int]]:
    """A local SMTP server, and this process's settings pointing at it."""
    handler, port = Mailbox(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("YILIAN_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("YILIAN_SMTP_PORT", str(port))
    monkeypatch.setenv("YILIAN_NOTIFY_SITE_URL", "https://yilian.example.cn")
    get_settings.cache_clear()
    yield handler, port
    controller.stop()
    get_settings.cache_clear()


def test_a_doctor_with_an_email_address_gets_the_notification_by_mail_too(
    session: Session, network: Network, settings: Settings, mailbox: tuple[Mailbox, int]
) -> None:
    handler, port = mailbox
    served = settings.model_copy(update={
        "smtp_host": "127.0.0.1", "smtp_port": port, "smtp_from": "noreply@yilian.example.cn",
        "notify_worker_in_server": True, "notify_poll_seconds": 0.05})
    app = create_app(served)
    try:
        with TestClient(app) as client:  # the server's outbox worker thread runs meanwhile
            doctor = bearer(client, "county.doctor")
            saved = client.put("/api/v1/inbox/contact", headers=doctor,
                               json={"email": "doctor@county.example.cn"})
            assert saved.status_code == 200, saved.text
            bad = client.put("/api/v1/inbox/contact", headers=doctor, json={"email": "nope"})
            assert bad.status_code == 422
            notify.publish(session, kind="referral.completed",
                           institution_ids=[network.county.id], title_zh="出院小结已回传",
                           title_en="Discharge summary returned", body_zh="宋桂兰已出院。",
                           body_en="Song Guilan was discharged.", link="/referrals/7")
            session.commit()
            deadline = time.monotonic() + 15
            while not handler.messages and time.monotonic() < deadline:
                time.sleep(0.05)
    finally:
        app.state.engine.dispose()

    assert len(handler.messages) == 1  # only the doctor gave an address
    recipients, mail = handler.messages[0]
    assert recipients == ["doctor@county.example.cn"]
    assert mail["From"] == "noreply@yilian.example.cn"
    assert mail["Subject"] == "[医联 Yilian] 出院小结已回传 / Discharge summary returned"
    text = mail.get_content()
    assert "宋桂兰已出院。" in text and "Song Guilan was discharged." in text
    assert "https://yilian.example.cn/referrals/7" in text
    sent = session.scalars(select(OutboxMessage)).one()
    session.refresh(sent)
    assert sent.channel is Channel.EMAIL and sent.status is OutboxStatus.DELIVERED
    assert mail["X-Yilian-Delivery"] == sent.delivery_id
