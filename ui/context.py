"""``AppContext``: what the tab builders share while the page is built.

A tab builder gets the context, lays out its components and wires its own controls. Two
hooks connect it to the rest of the page:

- ``ctx.on_result(render, inputs, outputs)``: after every query, ``render(result, *values of
  inputs)`` fills ``outputs`` (one value per output component). All renderers run in the
  query's single round trip.
- ``ctx.after_layout(fn)``: ``fn()`` runs once the whole page exists, to wire events to
  components built after the tab (the match gallery, the tab bar).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr


@dataclass
class Renderer:
    """``render(result, *values)`` -> one value per component of ``outputs``."""

    render: Callable
    inputs: Sequence
    outputs: Sequence


@dataclass
class AppContext:
    """Shared state of the page being built.

    Attributes:
        pipe: the loaded ``ognet.pipeline.ReIDPipeline``.
        args: the command-line arguments of ``app.py``.
        state: ``gr.State`` holding the current ``QueryResult`` (None before the first query).
        components: named components other builders use, e.g. ``camera``, ``point_size``,
            ``show_background`` (3D tab), ``matches`` (match gallery), ``tabs`` (tab bar),
            ``message`` (the line under the query inputs).
    """

    pipe: object
    args: object
    state: gr.State
    components: dict = field(default_factory=dict)
    renderers: list[Renderer] = field(default_factory=list)
    _later: list[Callable] = field(default_factory=list)

    def __getitem__(self, name: str):
        return self.components[name]

    def on_result(self, render: Callable, inputs: Sequence, outputs: Sequence) -> None:
        self.renderers.append(Renderer(render, list(inputs), list(outputs)))

    def after_layout(self, fn: Callable) -> None:
        self._later.append(fn)

    def finish_layout(self) -> None:
        for fn in self._later:
            fn()

    # ------------------------------------------------------------ one query, every renderer
    @property
    def result_inputs(self) -> list:
        return [c for r in self.renderers for c in r.inputs]

    @property
    def result_outputs(self) -> list:
        return [c for r in self.renderers for c in r.outputs]

    def render_all(self, result, values: Sequence) -> list:
        """Run every renderer on ``result``; ``values`` are those of ``result_inputs``."""
        out, i = [], 0
        for r in self.renderers:
            got = r.render(result, *values[i:i + len(r.inputs)])
            i += len(r.inputs)
            got = list(got) if isinstance(got, (tuple, list)) else [got]
            if len(got) != len(r.outputs):
                raise RuntimeError(f"{r.render.__qualname__} returned {len(got)} values for "
                                   f"{len(r.outputs)} outputs")
            out.extend(got)
        return out


def upload_path(value) -> tuple[str | None, str | None]:
    """A component's raw file payload (or a path) -> (path on disk, the user's file name)."""
    if value is None:
        return None, None
    if isinstance(value, dict):
        path = value.get("path")
        return path, value.get("orig_name") or (Path(path).name if path else None)
    return str(value), Path(str(value)).name
