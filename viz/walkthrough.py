"""A talk walkthrough of one query: OG-Net's modules as the steps of a Plotly animation
(input -> farthest point sampling -> KNN graph -> groups -> non-local graph), a caption per
step, and a slow turntable of the cloud.

Plotly plays it in the browser: the steps and the turntable are ``go.Frame`` s, started by
the figure's own buttons and slider (``updatemenus``/``sliders``), so nothing goes back to the
server while it plays. The figure is shown as a standalone page (:func:`walkthrough_page`)
because animation frames need ``Plotly.addFrames``.
"""

from __future__ import annotations

import html
import math

import numpy as np
import plotly.graph_objects as go

from viz.figures import (
    CAMERAS,
    GROUP_COLOURS,
    TEXT,
    TEXT_FILL,
    _rgb_strings,
    _segments,
    _xyz,
    frame_scene,
    module_rgb,
    module_summary,
)

#: (frame name, slider label) of the steps, in order.
STEPS = [("input", "input"), ("fps", "FPS"), ("knn", "KNN graph"), ("groups", "groups"),
         ("nonlocal", "non-local")]
TURN_FRAMES = 90  # one revolution: 90 frames of 120 ms, about 11 s


def _faded(rgb: np.ndarray, keep: float = 0.45, grey: float = 0.72) -> np.ndarray:
    """Blend colours towards grey so highlighted points stand out (``keep`` of the colour)."""
    return keep * rgb + (1 - keep) * grey


def _empty() -> dict:
    return dict(x=[], y=[], z=[])


def walkthrough_steps(trace, centre: int = 0, max_edges: int = 1500) -> list[dict]:
    """The steps as data: per step a caption and four traces' contents
    ``context`` (points, colours), ``highlight`` (points, colours, size), ``edges``
    (segment endpoints a, b), ``centre`` (one point), each possibly empty.

    Args:
        trace: ``ognet.models.ModelTrace`` of the query.
        centre: a point of module 1's output (the group / edge centre).
    """
    pts = trace.points.numpy()
    mods = trace.modules
    first, last = mods[0], mods[-1]
    in1 = first.in_xyz.numpy()
    rgb_in1, rgb_out1 = module_rgb(trace, 1)
    centre = int(np.clip(centre, 0, len(first.out_xyz) - 1))
    c_in = int(first.sampled_idx[centre]) if first.sampled_idx is not None else centre
    steps = []

    steps.append(dict(
        name="input", caption=f"<b>1 Input</b>: {len(pts)} points, each xyz + rgb,<br>"
                              "lifted from the photo onto a body model",
        context=(pts[:, :3], pts[:, 3:6]), highlight=None, edges=None, centre=None))

    out1 = first.out_xyz.numpy()
    steps.append(dict(
        name="fps", caption=f"<b>2 Farthest point sampling</b> ({module_summary(first, 1, False)})"
                            f":<br>the {len(out1)} kept points spread evenly over the body",
        context=(in1, _faded(rgb_in1, 0.25)), highlight=(out1, rgb_out1, 2.6), edges=None,
        centre=None))

    e = first.knn_edges.numpy()
    rng = np.random.default_rng(0)
    some = rng.choice(e.shape[1], size=min(max_edges, e.shape[1]), replace=False)
    mine = e[:, e[1] == c_in]
    k = mine.shape[1]
    steps.append(dict(
        name="knn", caption=f"<b>3 KNN graph</b> (module 1): each of the {len(in1)} points is "
                            f"linked to<br>its {k} nearest neighbours in 3D; EdgeConv mixes "
                            "features along the edges",
        context=(in1, _faded(rgb_in1)), highlight=(in1[mine[0]], np.tile([[0.84, 0.15, 0.16]],
                                                                      (k, 1)), 3.0),
        edges=(in1[e[1, some]], in1[e[0, some]]), centre=in1[[c_in]]))

    # the first module with multi-scale groups (OG-Net-Deep's first modules have none)
    gmod = next((m for m in mods if m.groups), first)
    g_in, g_out = gmod.in_xyz.numpy(), gmod.out_xyz.numpy()
    g_centre = int(np.argmin(((g_out - out1[centre]) ** 2).sum(1)))
    members = [(r, gmod.groups[r][g_centre].numpy()) for r in sorted(gmod.groups, reverse=True)]
    sizes = " / ".join(str(r) for r, _ in members[::-1]) or "no"
    hl_xyz = np.concatenate([g_in[m] for _, m in members]) if members else np.zeros((0, 3))
    hl_rgb = (np.concatenate([np.tile(_hex_rgb(GROUP_COLOURS.get(r, "#911eb4")), (len(m), 1))
                              for r, m in members]) if members else np.zeros((0, 3)))
    steps.append(dict(
        name="groups", caption=f"<b>4 Groups</b> (module {mods.index(gmod) + 1}): each kept "
                               f"point pools {sizes} neighbours,<br>small to large scales "
                               "(omni-scale)",
        context=(in1, _faded(rgb_in1, 0.3)), highlight=(hl_xyz, hl_rgb, 4.0), edges=None,
        centre=g_out[[g_centre]]))

    inl = last.in_xyz.numpy()
    rgb_inl, _ = module_rgb(trace, len(mods))
    graph = last.nonlocal_edges if last.nonlocal_edges is not None else last.knn_edges
    g = graph.numpy()
    near = int(np.argmin(((inl - out1[centre]) ** 2).sum(1)))
    mine = g[:, g[1] == near]
    where = module_summary(last, len(mods), channels=False)
    steps.append(dict(
        name="nonlocal", caption=(f"<b>5 Non-local graph</b> ({where}): the {len(inl)} points"
                                  "<br>linked by appearance and position, across the body"
                                  if last.nonlocal_edges is not None else
                                  f"<b>5 Last module</b> ({where}): its KNN graph"),
        context=(inl, rgb_inl), highlight=(inl[mine[0]], np.tile([[0.84, 0.15, 0.16]],
                                                                  (mine.shape[1], 1)), 5.0),
        edges=(inl[mine[1]], inl[mine[0]]), centre=inl[[near]]))
    return steps


def _hex_rgb(colour: str) -> np.ndarray:
    c = colour.lstrip("#")
    return np.array([[int(c[i:i + 2], 16) / 255 for i in (0, 2, 4)]])


def _step_traces(step: dict, point_size: float) -> list[go.Scatter3d]:
    ctx_xyz, ctx_rgb = step["context"]
    traces = [go.Scatter3d(**_xyz(ctx_xyz), mode="markers", hoverinfo="skip",
                           marker=dict(size=point_size, color=_rgb_strings(ctx_rgb)))]
    if step["highlight"] is not None:
        xyz, rgb, scale = step["highlight"]
        traces.append(go.Scatter3d(**_xyz(xyz), mode="markers", hoverinfo="skip",
                                   marker=dict(size=point_size * scale,
                                               color=_rgb_strings(rgb))))
    else:
        traces.append(go.Scatter3d(**_empty(), mode="markers"))
    if step["edges"] is not None:
        traces.append(go.Scatter3d(**_segments(*step["edges"]), mode="lines",
                                   hoverinfo="skip",
                                   line=dict(width=2, color="rgba(31,119,180,0.55)")))
    else:
        traces.append(go.Scatter3d(**_empty(), mode="lines"))
    if step["centre"] is not None:
        traces.append(go.Scatter3d(**_xyz(step["centre"]), mode="markers", hoverinfo="skip",
                                   marker=dict(size=9, color="#111111", symbol="diamond",
                                               line=dict(color="white", width=2))))
    else:
        traces.append(go.Scatter3d(**_empty(), mode="markers"))
    return traces


def _caption(text: str) -> list[dict]:
    return [dict(text=text, x=0.0, y=1.0, xref="paper", yref="paper", xanchor="left",
                 yanchor="top", showarrow=False, align="left",
                 font=dict(size=16, color=TEXT))]


def turntable_cameras(camera: str = "three-quarter", n: int = TURN_FRAMES) -> list[dict]:
    """``n`` cameras on a circle around the vertical axis, starting at ``camera``."""
    eye = CAMERAS[camera]["eye"]
    radius = math.hypot(eye["x"], eye["z"]) or 1.5
    start = math.atan2(eye["x"], eye["z"])
    return [dict(eye=dict(x=radius * math.sin(start + 2 * math.pi * i / n), y=eye["y"],
                          z=radius * math.cos(start + 2 * math.pi * i / n)),
                 up=dict(x=0, y=1, z=0)) for i in range(n)]


def walkthrough_figure(trace, centre: int = 0, point_size: float = 2.0,
                       camera: str = "three-quarter", step_ms: int = 2500) -> go.Figure:
    """The animated walkthrough of one query (see the module docstring).

    Buttons: "▶ modules" plays the steps (``step_ms`` each), "⟳ turntable" turns the camera
    once around the cloud, "❚❚" pauses; the slider jumps to a step.
    """
    steps = walkthrough_steps(trace, centre=centre)
    frames = [go.Frame(name=s["name"], data=_step_traces(s, point_size),
                       layout=dict(annotations=_caption(s["caption"]))) for s in steps]
    frames += [go.Frame(name=f"turn{i}", group="turntable", layout=dict(scene_camera=cam))
               for i, cam in enumerate(turntable_cameras(camera))]
    fig = go.Figure(data=frames[0].data, frames=frames)

    def play(ms):
        return dict(frame=dict(duration=ms, redraw=True), transition=dict(duration=0),
                    mode="immediate")

    button_font = dict(size=14)
    fig.update_layout(
        margin=dict(l=0, r=0, t=0, b=0), showlegend=False, autosize=True,
        paper_bgcolor="rgba(0,0,0,0)", font=dict(color=TEXT),
        annotations=_caption(steps[0]["caption"]),
        scene=dict(camera=CAMERAS[camera], domain=dict(y=[0.18, 0.9]),
                   xaxis=dict(visible=False), yaxis=dict(visible=False),
                   zaxis=dict(visible=False)),
        updatemenus=[dict(
            type="buttons", direction="right", x=0.0, y=0.0, xanchor="left",
            yanchor="bottom", pad=dict(t=0, r=6, b=4), showactive=False, font=button_font,
            buttons=[
                dict(label="▶ modules", method="animate",
                     args=[[s["name"] for s in steps], play(step_ms)]),
                dict(label="⟳ turntable", method="animate",
                     args=["turntable", play(120)]),
                dict(label="❚❚", method="animate",
                     args=[[None], dict(frame=dict(duration=0, redraw=False),
                                        mode="immediate", transition=dict(duration=0))]),
            ])],
        sliders=[dict(
            active=0, x=0.05, y=0.075, len=0.88, xanchor="left", yanchor="bottom",
            pad=dict(t=0, b=26), currentvalue=dict(visible=False), font=dict(size=13),
            steps=[dict(label=label, method="animate",
                        args=[[name], dict(frame=dict(duration=0, redraw=True),
                                           mode="immediate", transition=dict(duration=0))])
                   for name, label in STEPS])],
    )
    return frame_scene(fig)


#: In a frame of the app (the same origin), the captions and labels drawn in :data:`TEXT`
#: take the app's own text colour (dark on the light theme, light on the dark one), as the
#: app's CSS does for its other figures (``ui.theme``); alone, the page keeps :data:`TEXT`.
THEMED_TEXT = (
    f'<style>text[style*="fill: {TEXT_FILL}"]{{fill:var(--page-text,{TEXT}) !important}}'
    "</style><script>try{const p=window.parent.document;"
    "const c=getComputedStyle(p.querySelector('.gradio-container')||p.body)"
    ".getPropertyValue('--body-text-color').trim();"
    "if(c)document.documentElement.style.setProperty('--page-text',c);}catch(e){}</script>")


def walkthrough_page(fig: go.Figure, plotly_js_url: str) -> str:
    """A standalone HTML page showing ``fig`` full-window (Plotly from ``plotly_js_url``)."""
    body = fig.to_html(full_html=False, include_plotlyjs=plotly_js_url, auto_play=False,
                       default_width="100%", default_height="100%",
                       config=dict(responsive=True, displayModeBar=False))
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><style>html,body{margin:0;"
            "height:100%;background:transparent;overflow:hidden}</style>"
            f"{THEMED_TEXT}</head><body>{body}</body></html>")


def iframe(page: str, elem_class: str = "walkthrough-frame") -> str:
    """An ``<iframe>`` element showing ``page`` (its own document: scripts run there)."""
    return (f'<iframe class="{elem_class}" title="OG-Net walkthrough" '
            f'srcdoc="{html.escape(page, quote=True)}"></iframe>')
