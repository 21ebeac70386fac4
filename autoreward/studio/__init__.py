"""`autoreward studio`: a local web page for refinement sessions (`app.py` is the web app,
`server.py` starts it; Starlette and uvicorn come with the `studio` extra)."""

from autoreward.studio.server import serve

__all__ = ["serve"]
