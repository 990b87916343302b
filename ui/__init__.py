"""The Gradio UI of ``app.py``: layout and wiring only.

``build_app(pipe, args)`` assembles the page (:mod:`ui.blocks`); each tab is a short builder
in :mod:`ui.tabs` (the list ``ui.tabs.TABS`` is where a new tab plugs in); the API endpoints
are in :mod:`ui.api`. Logic lives in ``ognet`` (the pipeline) and figures in ``viz``.
"""

from ui.blocks import build_app

__all__ = ["build_app"]
