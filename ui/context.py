"""``AppContext``: what the tab builders share while the page is built, and how one query
result reaches every tab.

A tab builder gets the context, lays out its components and wires its own controls. Two
hooks connect it to the rest of the page:

- ``ctx.on_result(render, inputs, outputs)``: for every query result, ``render(result,
  *values of inputs)`` fills ``outputs`` (one value per output component): right after the
  query when its tab is shown, else when the tab is opened (``every_query=True``: right
  after every query, shown or not, e.g. for a side effect such as a desktop viewer).
- ``ctx.after_layout(fn)``: ``fn()`` runs once the whole page exists, to wire events to
  components built after the tab (the match gallery, the tab bar).

How a query reaches the page (:meth:`AppContext.wire_query`): the query event itself runs
the pipeline, keeps the result in ``ctx.state`` and shows the top-5 (a round trip of the
pipeline's own time); then, each in its own round trip, what is drawn beside the matches and
the tab that is shown (the 3D view unless another is open) draw from that state; every other
tab draws from it when it is opened (:meth:`AppContext.wire_tabs`), once per result. A
failed or cleared query resets every panel of the page (each renderer's outputs and every
display component an event writes) to the value it was built with.

A newer query of the same browser session always wins (:class:`Freshness`): an older one still
running stops at its next stage or has its result dropped, and a tab drawn from a result that
is no longer the newest is not sent.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr


@dataclass
class Renderer:
    """``render(result, *values)`` -> one value per component of ``outputs``; ``tab``: the id of
    the tab whose builder registered it (None outside the tabs: drawn with the top-5)."""

    render: Callable
    inputs: Sequence
    outputs: Sequence
    tab: str | None = None


class StaleQuery(Exception):
    """A newer query of the same session has started: this one's result would be wrong."""


class Freshness:
    """Which query of each browser session is the newest.

    ``start`` gives a query its token; ``finish`` says whether its result may be shown (no
    newer query of the session started meanwhile) and remembers it; ``shown`` says whether a
    result is the one the session shows now (then a tab may be drawn from it); ``claim``
    whether a tab is still to be drawn from it (once per result and tab).

    A query can name what it asks (``key``: the photo, the gallery): asked again while it is
    the session's newest (Gradio fires a photo's change event twice for one upload), it gets
    no token and nothing is redone.
    """

    def __init__(self):
        self._latest: dict[str, int] = {}
        self._keys: dict[str, object] = {}
        self._shown: dict[str, weakref.ref] = {}
        self._drawn: dict[str, set] = {}
        self._count = 0
        self._lock = threading.Lock()

    def start(self, session: str, key=None) -> int | None:
        """A new token for the session's newest query; None when ``key`` is the newest
        query's own (a repeat)."""
        with self._lock:
            if key is not None and self._keys.get(session) == key:
                return None
            self._count += 1
            self._latest[session] = self._count
            self._keys[session] = key
            self._shown.pop(session, None)  # what is on screen is about to be replaced
            return self._count

    def newest(self, session: str, token: int) -> bool:
        return self._latest.get(session) == token

    def finish(self, session: str, token: int, result) -> bool:
        with self._lock:
            if self._latest.get(session) != token:
                return False
            if result is not None:
                self._shown[session] = weakref.ref(result)
                self._drawn[session] = set()
            return True

    def shown(self, session: str, result) -> bool:
        ref = self._shown.get(session)
        return result is not None and ref is not None and ref() is result

    def claim(self, session: str, result, tab) -> bool:
        """True once for each tab of the result the session shows (a repeated query event's
        stages find their tab drawn)."""
        with self._lock:
            if not self.shown(session, result) or tab in self._drawn[session]:
                return False
            self._drawn[session].add(tab)
            return True

    def forget(self, session: str) -> None:
        with self._lock:
            self._latest.pop(session, None)
            self._keys.pop(session, None)
            self._shown.pop(session, None)
            self._drawn.pop(session, None)


def session_of(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or "-"


def initial_value(component):
    """The value a component was built with, in the form its event outputs take."""
    value = getattr(component, "value", None)
    if isinstance(component, gr.Plot) and isinstance(value, dict):
        from gradio.components.plot import PlotData

        return PlotData(**value)
    return value


#: The group of renderers drawn right after every query, whichever tab is shown.
EVERY_QUERY = "every_query"
#: Components that show something (as opposed to controls): reset to their built value.
DISPLAYS = (gr.Plot, gr.HTML, gr.Markdown, gr.Image, gr.File, gr.Gallery, gr.AnnotatedImage,
            gr.JSON)


@dataclass
class AppContext:
    """Shared state of the page being built.

    Attributes:
        pipe: the loaded ``ognet.pipeline.ReIDPipeline``.
        args: the command-line arguments of ``app.py``.
        state: ``gr.State`` holding the current ``QueryResult`` (None before the first query
            and after a failed or cleared one).
        components: named components other builders use, e.g. ``camera``, ``point_size``,
            ``show_background`` (3D tab), ``matches`` (match gallery), ``tabs`` (tab bar),
            ``message`` (the line under the query inputs).
        tab: the id of the tab being built (set by ``ui.blocks``; another name puts a
            renderer outside the tabs in a group drawn right after the top-5).
        tabs: ``id -> gr.Tab`` of the tab bar (set by ``ui.blocks``).
        selected: ``gr.State`` holding the id of the tab the session shows.
        freshness: the newest query of each session (:class:`Freshness`).
    """

    pipe: object
    args: object
    state: gr.State
    components: dict = field(default_factory=dict)
    renderers: list[Renderer] = field(default_factory=list)
    tab: str | None = None
    tabs: dict = field(default_factory=dict)
    selected: gr.State | None = None
    freshness: Freshness = field(default_factory=Freshness)
    _later: list[Callable] = field(default_factory=list)
    _panels: list = field(default_factory=list)

    def __getitem__(self, name: str):
        return self.components[name]

    def on_result(self, render: Callable, inputs: Sequence, outputs: Sequence,
                  every_query: bool = False) -> None:
        tab = EVERY_QUERY if every_query else self.tab
        self.renderers.append(Renderer(render, list(inputs), list(outputs), tab))

    def after_layout(self, fn: Callable) -> None:
        self._later.append(fn)

    def finish_layout(self) -> None:
        """Run the ``after_layout`` hooks, then note every panel a query resets: the
        renderers' outputs and every display component some event writes."""
        from gradio.context import get_blocks_context

        for fn in self._later:
            fn()
        panels = [c for r in self.renderers for c in r.outputs]
        for fn in get_blocks_context().fns.values():
            panels += [c for c in fn.outputs if isinstance(c, DISPLAYS)]
        self._panels = [c for c in dict.fromkeys(panels) if c is not self.state]

    # ------------------------------------------------------------------- the stages
    @property
    def stages(self) -> list[tuple[str | None, list[Renderer]]]:
        """The renderers grouped by where they draw: outside the tabs (``None``: with the
        top-5, in the query event itself), then those drawn right after it (a group named
        for no tab), then the tabs in the tab bar's order."""
        groups: dict = {}
        for r in self.renderers:
            groups.setdefault(r.tab, []).append(r)
        order = [None, *(t for t in groups if t is not None and t not in self.tabs),
                 *(t for t in self.tabs if t in groups)]
        return [(t, groups[t]) for t in order if t in groups]

    @property
    def panels(self) -> list:
        return list(self._panels)

    def empty_values(self, components) -> list:
        """Every component at the value it was built with."""
        return [initial_value(c) for c in components]

    def render_stage(self, renderers: list[Renderer], result, values: Sequence) -> list:
        """Run ``renderers`` on ``result``; ``values`` are those of their inputs in order."""
        out, i = [], 0
        for r in renderers:
            got = r.render(result, *values[i:i + len(r.inputs)])
            i += len(r.inputs)
            got = list(got) if isinstance(got, (tuple, list)) else [got]
            if len(got) != len(r.outputs):
                raise RuntimeError(f"{r.render.__qualname__} returned {len(got)} values for "
                                   f"{len(r.outputs)} outputs")
            out.extend(got)
        return out

    def wire_query(self, event) -> None:
        """After a query ``event`` (which set ``ctx.state``), draw from the state, one group
        per round trip (:attr:`stages`): the groups of no tab, then the tab that is shown (a
        hidden tab draws when it is opened: :meth:`wire_tabs`). A stage draws nothing when
        the state is empty, no longer the session's newest result, or its group was drawn
        from it already."""
        for tab, renderers in self.stages:
            if tab is None:
                continue
            inputs, outputs = self._io(renderers)
            event = event.then(self._stage_fn(renderers, outputs, on_open=False),
                               inputs=[self.state, self.selected, *inputs], outputs=outputs,
                               api_visibility="private", show_progress="minimal")

    def wire_tabs(self) -> None:
        """Opening a tab notes it as the session's shown tab and draws it from the current
        result when it was not drawn from it yet."""
        groups = dict(self.stages)
        for tab_id, tab in self.tabs.items():
            if tab_id not in groups:
                tab.select(lambda t=tab_id: t, None, self.selected, api_visibility="private",
                           show_progress="hidden")
                continue
            inputs, outputs = self._io(groups[tab_id])
            tab.select(self._stage_fn(groups[tab_id], outputs, on_open=True),
                       inputs=[self.state, *inputs], outputs=[self.selected, *outputs],
                       api_visibility="private", show_progress="minimal")

    @staticmethod
    def _io(renderers: list[Renderer]) -> tuple[list, list]:
        return ([c for r in renderers for c in r.inputs],
                list(dict.fromkeys(c for r in renderers for c in r.outputs)))

    def _stage_fn(self, renderers: list[Renderer], outputs: list, on_open: bool):
        """The function of one group's stage: after a query (``on_open`` False: its inputs
        are the state, the shown tab, the renderers' inputs) or on its tab's opening (the
        state and the renderers' inputs; it also returns the tab's id for ``selected``)."""
        flat = [c for r in renderers for c in r.outputs]
        tab = renderers[0].tab

        def draw(request, result, values) -> list:
            if not self.freshness.claim(session_of(request), result, tab):
                return [gr.skip()] * len(outputs)
            got = dict(zip(flat, self.render_stage(renderers, result, values), strict=True))
            return [got[c] for c in outputs]

        if on_open:
            def stage(request: gr.Request, result, *values):
                return [tab, *draw(request, result, values)]
        else:
            def stage(request: gr.Request, result, shown_tab, *values):
                if tab in self.tabs and tab != shown_tab:  # hidden: drawn when opened
                    out = [gr.skip()] * len(outputs)
                else:
                    out = draw(request, result, values)
                return out[0] if len(out) == 1 else out  # gradio: a single output's value

        stage.__name__ = f"{'open' if on_open else 'draw'}_{tab}"
        return stage


def upload_path(value) -> tuple[str | None, str | None]:
    """A component's raw file payload (or a path) -> (path on disk, the user's file name)."""
    if value is None:
        return None, None
    if isinstance(value, dict):
        path = value.get("path")
        return path, value.get("orig_name") or (Path(path).name if path else None)
    return str(value), Path(str(value)).name
