"""The browser playground: a FastAPI server streaming runs over one WebSocket per tab.

Needs the ``web`` extra (``pip install 'descentlab[web]'``: fastapi, uvicorn, pydantic,
websockets). ``descentlab playground`` or ``descentlab.web.serve()`` starts it;
``create_app()`` gives the app for tests or another ASGI server. The messages are
described in ``docs/playground.md`` and modelled in :mod:`descentlab.web.protocol`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Limits", "create_app", "serve"]


def __getattr__(name: str) -> Any:
    # Lazy, so that importing descentlab.web does not pull in FastAPI before it is needed.
    if name in ("create_app", "serve"):
        from descentlab.web import server

        return getattr(server, name)
    if name == "Limits":
        from descentlab.web.protocol import Limits

        return Limits
    raise AttributeError(f"module 'descentlab.web' has no attribute {name!r}")
