"""`autoreward studio`: a local web page for refinement sessions (see `app.py`)."""

from autoreward.studio.app import create_app
from autoreward.studio.server import serve

__all__ = ["create_app", "serve"]
