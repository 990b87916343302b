"""Markdown lines the page shows: the header, the status line, the results table, the lifting
notes. Pure functions of ognet data (no components)."""

from __future__ import annotations


def header(info: dict) -> str:
    """``ReIDPipeline.describe()`` -> one line: model, device, gallery, body model."""
    return (f"**{info['variant']}** ({info['parameters'] / 1e6:.2f} M parameters, "
            f"{info['input_points']} points in) · device **{info['device']}** · gallery "
            f"**{info['gallery_size']}** images ({info['gallery_identities']} identities) · "
            f"body model: {info['body_model']}")


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
