"""ASGI entry point: ``uvicorn yilian.asgi:app``.

The app, once built, is half a million long-lived Python objects (routes, schemas,
templates, the linkage model) that the cyclic garbage collector would otherwise walk on
every full collection: 170 ms and more, during which the worker answers nobody, every few
seconds under load. ``gc.freeze()`` moves them out of its reach for good (they live as long
as the process); what requests allocate is still collected as before.
"""

import gc

from yilian.app import create_app

app = create_app()
gc.freeze()
