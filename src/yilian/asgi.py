"""ASGI entry point: ``uvicorn yilian.asgi:app``."""

from yilian.app import create_app

app = create_app()
