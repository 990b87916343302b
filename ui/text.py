"""Markdown lines the page shows: the header, the credits, the status line, the results
table, the lifting notes, the hints of plots that wait. Pure functions of ognet data (no
components)."""

from __future__ import annotations

#: The paper the app follows, and where to read it.
PAPER_TITLE = "Parameter-Efficient Person Re-identification in the 3D Space"
PAPER_URL = "https://arxiv.org/abs/2006.04569"
CITATION = (f"Z. Zheng, X. Wang, N. Zheng, Y. Yang, \"{PAPER_TITLE}\", IEEE TNNLS, 2022 "
            "(doi 10.1109/TNNLS.2022.3214834, arXiv 2006.04569)")


def title_line() -> str:
    """The page's one-line header, in plain words: what the app does, and the paper with its
    link."""
    return (f"**OG-Net** looks for the same person in other photos, in 3D · paper: "
            f"[*{PAPER_TITLE}*]({PAPER_URL}) (Zheng et al., IEEE TNNLS)")


def header(info: dict) -> str:
    """``ReIDPipeline.describe()`` -> one line: model, device, gallery, body model (the
    console's start-up line)."""
    return (f"**{info['variant']}** ({info['parameters'] / 1e6:.2f} M parameters, "
            f"{info['input_points']} points in) · device **{info['device']}** · gallery "
            f"**{info['gallery_size']}** images ({info['gallery_identities']} identities) · "
            f"body model: {info['body_model']}")


def credits(info: dict) -> str:
    """The citation and licence line, and the model that runs (``ReIDPipeline.describe()``;
    the gallery is named beside the matches, where it can be changed)."""
    return (f"Cite: {CITATION} · licences: code MIT; the free body model is built from NAVER's "
            f"anny (Apache-2.0) · running **{info['variant']}** "
            f"({info['parameters'] / 1e6:.2f} M parameters, {info['input_points']} points in) "
            f"on {info['device']}; body model: {info['body_model']}")


#: What a plot waiting for a query or a choice says (``viz.hint_figure``), by its elem_id.
PLOT_HINTS = {
    "layerplot": "Run a query: what each<br>OG-Net module did<br>to its cloud shows here.",
    "compare-query": "Click one of the top-5<br>matches: the query's cloud<br>shows here,",
    "compare-match": "... and the match's cloud<br>here, side by side.",
    "explain-clouds": "Pick a match (#1 to #5)<br>and press Explain match:<br>each point's share "
                      "<br>of the similarity shows here,",
    "explain-parts": "... and each body<br>part's share here.",
    "whatif-moves": "Pick one change above:<br>where the top-5 went<br>shows here.",
    "whatif-yaw-curve": "Pick a yaw angle<br>or mirrored: the cosine<br>against the yaw "
                        "shows here.",
}


def status_line(result) -> str:
    top = result.matches[0]
    method = result.lift.method if result.lift else "cloud file"
    line = f"**{result.name}** · {method} · top-1 pid {top.pid} ({top.similarity:.3f})"
    return line + (f"  \n{result.note}" if result.note else "")


def identity_known(result, gallery_identities: set) -> bool:
    """Whether the query's identity (from its file name) is in the gallery."""
    return result.query_pid is not None and result.query_pid in gallery_identities


def results_table(result, known: bool) -> str:
    """Rank, similarity, pid (✔/✘ when the query identity is known), camera; timings."""
    head = (f"Query identity **{result.query_pid}** (from the file name)" if known
            else "Query identity unknown: matches are not marked right or wrong.")
    rows = ["| rank | similarity | pid | camera |", "|---:|---:|---:|---:|"]
    for m in result.matches:
        mark = "" if not known else (" ✔" if m.pid == result.query_pid else " ✘")
        rows.append(f"| {m.rank} | {m.similarity:.3f} | {m.pid}{mark} | {m.camid} |")
    t = " · ".join(f"{k} {v * 1000:.0f} ms" for k, v in result.timings.items())
    return head + "\n\n" + "\n".join(rows) + f"\n\n{t}"


#: What each lifting is, in a line (``ognet.lift.LIFTINGS``).
LIFTING_WORDS = {
    "person": "the person's own 3D: build, camera pitch and 3D joints read from the photo",
    "mean_body": "the mean body posed on MediaPipe's 3D landmarks; pixels off its outline "
                 "are background (galleries built before \"person\")",
}
#: What the Height line says when the caller gave no height (every query of the app).
NO_SCALE = "a single crop has no absolute scale, so no height is estimated"


def ordinal(n: int) -> str:
    """1 -> ``1st``, 22 -> ``22nd``, 13 -> ``13th``."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def build_table(measures) -> str:
    """``describe_build``'s measures -> a Markdown table, a row per trunk level (chest, waist,
    hip) and a column per measure (``width / height``, ``depth / height``), each cell the
    ratio to the height and its percentile in words: ``0.18 · 26th percentile``."""
    levels: dict[str, dict[str, str]] = {}
    for m in measures:
        level, _, dim = m.name.partition("_")
        levels.setdefault(level, {})[dim] = (f"{m.ratio:.2f} · "
                                             f"{ordinal(round(m.percentile))} percentile")
    dims = list(dict.fromkeys(d for row in levels.values() for d in row))
    rows = ["| trunk | " + " | ".join(f"{d} / height" for d in dims) + " |",
            "|---|" + "---|" * len(dims)]
    rows += [f"| {level} | " + " | ".join(row.get(d, "") for d in dims) + " |"
             for level, row in levels.items()]
    return "\n".join(rows)


def _signed_words(value: float, positive: str, negative: str) -> str:
    return f"{abs(value):.1f}° ({positive if value >= 0 else negative})"


def facing_words(yaw_deg: float) -> str:
    """The fitted body's yaw (0: facing the camera, positive: turned to the image's right)
    in words."""
    a, side = abs(yaw_deg), "right" if yaw_deg > 0 else "left"
    if a <= 30:
        where = "facing the camera"
    elif a <= 60:
        where = f"facing the camera, turned to the image's {side}"
    elif a < 120:
        where = f"side-on, facing the image's {side}"
    elif a < 150:
        where = f"its back to the camera, turned to the image's {side}"
    else:
        where = "its back to the camera"
    return f"yaw {yaw_deg:+.0f}° ({where})"


def pose_lines(lift) -> list[str]:
    """The ``"person"`` lifting's camera pitch, lean, facing and flip repair, in words."""
    lines = []
    if lift.camera_pitch_deg is not None:
        lines.append("camera pitch: " + _signed_words(lift.camera_pitch_deg, "looking down",
                                                      "looking up"))
    if lift.lean_deg is not None:
        lines.append(f"lean towards the camera: {lift.lean_deg:+.1f}° (pelvis to neck; an "
                     "upright person leans by about the camera's pitch)")
    if lift.yaw_deg is not None:
        lines.append("facing: " + facing_words(lift.yaw_deg))
    if lift.lean_correction_deg is not None:
        lines.append(
            f"flipped 3D pose repaired: **yes** (MediaPipe's 3D pose was flipped in depth; "
            f"turned {lift.lean_correction_deg:.0f}° onto the estimated lean)"
            if lift.flip_repaired else
            f"flipped 3D pose repaired: no (not flipped; lean corrected by "
            f"{lift.lean_correction_deg:.0f}°)")
    elif lift.lifting == "person":
        lines.append("flipped 3D pose repaired: no (no 3D pose from MediaPipe)")
    return lines


def lifting_notes(result, body_model_dir: str | None = None) -> str:
    """How the query's cloud was obtained: the lifting and method; the estimated build (each
    trunk proportion with its percentile, ``ognet.lift.build.describe_build`` for the body
    model of ``body_model_dir``), camera pitch, lean, facing and flip repair; the height
    (only where the caller knew the absolute scale); point counts and stage timings. A
    ``"mean_body"`` result says that lifting estimates none of these."""
    lift = result.lift
    if lift is None:
        return f"**{result.name}**: a point cloud file ({len(result.cloud)} points); no lifting."
    lifting = getattr(lift, "lifting", "mean_body")
    out = [f"**lifting: {lifting}** — {LIFTING_WORDS.get(lifting, '')}  \n"
           f"**method: {lift.method}** — {lift.message}"]
    if lifting == "person":
        if body_model_dir is None:
            from ognet.lift.build import POPULATION, describe_build

            try:
                table = build_table(describe_build(lift.betas, body_model_dir))
                out.append(f"**Estimated build** (trunk proportions; percentile among "
                           f"{POPULATION} people of the body model):\n\n{table}")
            except (OSError, ValueError, RuntimeError) as exc:
                out.append(f"**Estimated build**: could not be measured ({exc}).")
        else:
            out.append("**Estimated build**: not estimated with these body model files (the "
                       "build is read in the free body's shape space; this body keeps its "
                       "mean shape).")
        out.append("**Pose and camera**:\n" + "\n".join(f"- {line}" for line in
                                                          pose_lines(lift)))
    else:
        out.append(f"**Build, camera pitch, lean and facing: not estimated** by the {lifting} "
                   "lifting (its body is the mean body, posed on MediaPipe's landmarks).")
    height = getattr(lift, "height_m", None)
    out.append(f"**Height**: {height:.2f} m (given with the photo; the cloud is scaled to it)"
               if height is not None else f"**Height**: {NO_SCALE[0].upper()}{NO_SCALE[1:]}.")
    timings = " · ".join(f"{k} {v * 1000:.0f} ms" for k, v in lift.timings.items())
    out.append(f"{int(lift.foreground.sum())} lifted points, "
               f"{int((~lift.foreground).sum())} background points · stages: {timings}")
    return "\n\n".join(out)


def lifting_legend(colours: dict) -> str:
    """HTML legend of the lifting overlay (``viz.overlay.OVERLAY_COLOURS``): a swatch and a
    few words for each thing drawn, readable on light and dark pages."""
    def swatch(style):
        return (f'<span style="display:inline-block;width:22px;height:14px;'
                f'vertical-align:middle;margin-right:5px;border-radius:2px;{style}"></span>')

    def line(rgb):
        return swatch(f"background:#333;box-shadow:inset 0 -5px 0 rgb{tuple(rgb)},"
                      f"inset 0 5px 0 #333")

    items = [
        (line(colours["mask"]), "person mask"),
        (line(colours["body"]), "fitted body"),
        (swatch("background:linear-gradient(90deg,#c0392b,#8e44ad,#2e86c1)"),
         "lifted pixels"),
        (swatch("background:#3a3a3a;outline:1px solid #888"), "background"),
        (swatch(f"background:rgb{tuple(colours['bones'])}"), "2D skeleton"),
    ]
    return ('<div id="lift-legend-items" style="display:flex;flex-wrap:wrap;gap:4px 14px;'
            'line-height:1.4">'
            + "".join(f'<span style="white-space:nowrap">{s}{t}</span>' for s, t in items)
            + "</div>")
