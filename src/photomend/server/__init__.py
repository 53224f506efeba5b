"""The HTTP API and web studio of photomend (``photomend serve``).

>>> from photomend.server import Settings, create_app
>>> app = create_app(Settings(workers=1))  # hand it to uvicorn, or to httpx in tests
"""

from photomend.server.app import create_app
from photomend.server.settings import Settings

__all__ = ["Settings", "create_app"]
