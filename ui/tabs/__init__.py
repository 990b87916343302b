"""The tabs of the centre column, in the order shown.

A tab is a module with ``TITLE`` (the tab's label), ``ID`` (its ``gr.Tab`` id) and
``build(ctx: ui.context.AppContext)``, which lays out the tab's components, wires its own
controls and registers with ``ctx.on_result`` what it shows for each query. To add a tab,
write ``ui/tabs/<name>.py`` and list it in ``TABS`` below.
"""

from ui.tabs import cloud3d, compare, explain, export, layers, lifting, walkthrough, whatif

TABS = [cloud3d, walkthrough, lifting, layers, compare, explain, whatif, export]
