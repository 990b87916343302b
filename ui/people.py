"""The person picker: a wide photo's people, boxed on the photo, and a menu to search for
another one (``ReIDPipeline.run(..., person=i)``). Hidden for a single pedestrian crop."""

from __future__ import annotations

import gradio as gr


def build_picker() -> tuple[gr.AnnotatedImage, gr.Dropdown]:
    """The boxed photo (click a box to pick that person) and the menu; both hidden at first."""
    view = gr.AnnotatedImage(label="People in the photo", show_label=False, visible=False,
                             height=150, show_legend=False, elem_id="people")
    pick = gr.Dropdown(choices=[], value=None, label="search for person", visible=False,
                       interactive=True, elem_id="person-pick")
    return view, pick


def picker_updates(result, photo_path) -> tuple[dict, dict]:
    """Updates of (view, pick) for a query result: shown with one box and one choice per
    person when the photo held two or more, hidden otherwise."""
    people = getattr(result, "people", None) or []
    if len(people) < 2 or photo_path is None:
        return gr.update(visible=False, value=None), gr.update(visible=False, choices=[],
                                                               value=None)
    boxes = [(p.box, f"#{i + 1}") for i, p in enumerate(people)]
    choices = [(f"#{i + 1}" + (" (largest)" if i == 0 else ""), i) for i in range(len(people))]
    return (gr.update(visible=True, value=(photo_path, boxes)),
            gr.update(visible=True, choices=choices, value=result.person))


def clicked(evt: gr.SelectData) -> int:
    """The index of the box clicked on the boxed photo."""
    return int(evt.index)
