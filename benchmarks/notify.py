"""Outbox throughput: publishing events and delivering them as signed webhooks on loopback.

    python benchmarks/notify.py [--events 1000] [--workers 1] [--batch 50] [--concurrency 4]
                                [--database URL of an empty database]

Publishes EVENTS notifications (one webhook subscription each, so one outbox message),
each in its own committed transaction as a request would, then lets WORKERS outbox workers
(threads, each with its own connection) deliver them to a local HTTP receiver that answers
200 at once. Yardsticks measured in the same run: for publishing, a bare transaction
inserting one audit row; for delivery, the same number of plain urllib POSTs of the same
body to the same receiver from one thread, with no database — the ceiling of a sender.
Ratios say what the outbox costs on top. Loopback only; bounded by EVENTS.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from sqlalchemy import func, insert, select

from yilian import logs, migrate
from yilian.audit.models import AuditEvent, AuditOutcome
from yilian.auth import service as users
from yilian.auth.models import Role
from yilian.config import Settings
from yilian.db import make_engine, make_sessionmaker, transaction, utcnow
from yilian.notify import service as notify
from yilian.notify import subscriptions
from yilian.notify.delivery import Worker
from yilian.notify.models import OutboxMessage, OutboxStatus
from yilian.registry import service as registry
from yilian.registry.models import InstitutionKind, RegionLevel
from yilian.registry.schemas import InstitutionCreate, RegionCreate

FIELD_KEY = "YmVuY2htYXJrLWZpZWxkLWtleS0zMi1ieXRlcyEhISE="


class Quiet(BaseHTTPRequestHandler):
    """Answers every POST with 200 at once."""

    protocol_version = "HTTP/1.0"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=4,
                        help="messages each worker sends at once")
    parser.add_argument("--database", help="default: a SQLite file in a temporary folder")
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    with tempfile.TemporaryDirectory() as folder:
        database = args.database or f"sqlite:///{Path(folder) / 'notify.db'}"
        settings = Settings(database_url=database, field_key=FIELD_KEY, secret_key="x" * 40,
                            log_level="WARNING")
        migrate.upgrade(database)
        logs.configure(json_logs=False, level="WARNING")
        engine = make_engine(database, pool_size=args.workers + 2)
        factory = make_sessionmaker(engine)
        with transaction(factory) as session:
            root = users.principal_for(session, user=users.create(
                session, username="bench", password="Bench#2026x",  # noqa: S106 - throwaway
                role=Role.PLATFORM_ADMIN))
            registry.create_region(session, data=RegionCreate(
                code="130000", name="河北省", name_en="Hebei", level=RegionLevel.PROVINCE))
            hospital = registry.create_institution(session, data=InstitutionCreate(
                code="BENCH", name="基准医院", region_code="130000", level=2,
                kind=InstitutionKind.GENERAL_HOSPITAL))
            subscriptions.create(session, settings, principal=root,
                                 institution_id=hospital.id, url=url)
            hospital_id = hospital.id

        started = time.perf_counter()
        for number in range(args.events):
            with transaction(factory) as session:
                notify.publish(session, kind="referral.accepted", institution_ids=[hospital_id],
                               title_zh=f"转诊 {number} 已接收", title_en=f"Referral {number}",
                               payload={"number": number})
        publish_seconds = time.perf_counter() - started
        started = time.perf_counter()
        for _ in range(args.events):
            with transaction(factory) as session:
                session.execute(insert(AuditEvent).values(
                    recorded_at=utcnow(), actor="bench", actor_role="", action="bench",
                    entity_type="", entity_id="", outcome=AuditOutcome.SUCCESS, client_ip="",
                    user_agent="", request_id="", detail=""))
        yardstick_seconds = time.perf_counter() - started

        workers = [Worker(settings, factory, batch=args.batch, concurrency=args.concurrency,
                          name=f"bench{n}")
                   for n in range(args.workers)]
        threads = [threading.Thread(target=w.run_until_idle) for w in workers]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        deliver_seconds = time.perf_counter() - started
        with factory() as session:
            delivered = session.scalar(select(func.count(OutboxMessage.id)).where(
                OutboxMessage.status == OutboxStatus.DELIVERED)) or 0
            body = session.scalars(select(OutboxMessage.body).limit(1)).one().encode()

        started = time.perf_counter()
        for _ in range(args.events):
            request = urllib.request.Request(url, data=body, method="POST",
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                response.read()
        post_seconds = time.perf_counter() - started
        engine.dispose()
    server.shutdown()

    backend = database.split(":", 1)[0]
    print(f"database: {backend}; events: {args.events}; workers: {args.workers}; "
          f"batch: {args.batch}; concurrency: {args.concurrency}")
    print(f"publish:  {args.events / publish_seconds:8.0f} events/s "
          f"(one-row transaction yardstick {args.events / yardstick_seconds:8.0f}/s, "
          f"ratio {yardstick_seconds / publish_seconds:.2f})")
    print(f"deliver:  {delivered / deliver_seconds:8.0f} webhooks/s delivered {delivered} "
          f"(bare POST yardstick {args.events / post_seconds:8.0f}/s, "
          f"ratio {post_seconds / deliver_seconds:.2f})")
    return 0 if delivered == args.events else 1


if __name__ == "__main__":
    raise SystemExit(main())
