"""``python -m yilian.notify deliver``: the outbox worker without loading the whole CLI."""

from yilian.notify.cli import notify_app

notify_app(prog_name="yilian notify")
