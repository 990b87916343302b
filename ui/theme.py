"""Look of the page: the Gradio theme and the CSS.

Sized for a projector: the page spans the window; the 3D views take the window's height less
the header, the tab bar and their controls (``--plot-h``), so at 1280x720 and 1920x1080 the
3D view is the largest thing on the page and nothing needs scrolling to be seen: the query
column (photo, Search, the examples six to a row) fits 720 px. No text is under 11 px. The
full-screen toggle shows the tabs column alone (``#tabs-column:fullscreen``).
"""

import gradio as gr

from viz.figures import TEXT_FILL

THEME = gr.themes.Soft()

#: Full-screen toggle of the tabs column (a button's ``js``; Esc leaves too).
FULLSCREEN_JS = """() => {
  const col = document.querySelector('#tabs-column');
  if (document.fullscreenElement) document.exitFullscreen(); else col.requestFullscreen();
}"""
#: Plots laid out while their tab was hidden get their size when it is shown.
RESIZE_JS = "() => { setTimeout(() => window.dispatchEvent(new Event('resize')), 50); }"


#: Figures cannot know the page's theme: their neutral text (``viz.figures.TEXT``, a mid grey
#: that is faint on both) is drawn in the theme's own text colour.
FIGURE_TEXT_CSS = (f'.js-plotly-plot text[style*="fill: {TEXT_FILL}"]'
                   " {fill: var(--body-text-color) !important}\n")

CSS = FIGURE_TEXT_CSS + """
.gradio-container {max-width: none !important; padding: 2px 12px 0 !important}
#header p {margin: 0 !important; font-size: 0.92em; line-height: 1.35}
#credits p {margin: 0 !important; font-size: 12px; line-height: 1.4;
  color: var(--body-text-color-subdued)}
#main-row {--plot-h: max(330px, calc(100vh - 190px))}
@media (max-width: 1500px) {#main-row {--plot-h: max(330px, calc(100vh - 236px))}}
#view-controls {align-items: center; gap: 4px 16px; flex-wrap: wrap}
#view-controls > .block, #view-controls > button {flex: 0 0 auto !important;
  width: auto !important; min-width: 0 !important}
#view-controls #point-size {flex: 1 1 170px !important; max-width: 280px}
#point-size-label p {margin: 0 !important; white-space: nowrap}
#matches .grid-wrap {min-height: 0 !important; height: auto !important;
  max-height: none !important}
#matches-title p, #query-title p {margin: 0 !important}
#tabs-column [role=tablist] button {padding: 0 7px !important}
#centre-tabs > .tab-wrapper {padding-bottom: 0 !important}
#tabs-column:fullscreen {--plot-h: calc(100vh - 120px); background: var(--body-background-fill);
  padding: 6px 10px; overflow: auto}
#plot3d .js-plotly-plot {height: var(--plot-h) !important}
#layer-controls {flex-wrap: wrap}
#layerplot .js-plotly-plot {height: calc(var(--plot-h) - 70px) !important}
@media (max-width: 1500px) {#layerplot .js-plotly-plot {height: calc(var(--plot-h) - 110px)
  !important}}
#compare-query .js-plotly-plot, #compare-match .js-plotly-plot
  {height: calc(var(--plot-h) - 10px) !important}
#explain-clouds .js-plotly-plot, #explain-parts .js-plotly-plot
  {height: max(360px, calc(var(--plot-h) - 90px)) !important}
#whatif-moves .js-plotly-plot, #whatif-yaw-curve .js-plotly-plot
  {height: max(300px, calc(var(--plot-h) - 260px)) !important}
.walkthrough-frame {display: block; width: 100%; height: calc(var(--plot-h) + 50px); border: 0}
#lift-crop {flex: 0 0 calc((var(--plot-h) - 40px) / 2 + 24px) !important; min-width: 0 !important}
#lift-text {max-height: calc(var(--plot-h) + 20px); overflow-y: auto; flex-wrap: nowrap !important;
  gap: 4px !important}
#lift-notes p, #lift-notes li {font-size: 14px !important; line-height: 1.4 !important}
#lift-legend-items {font-size: 13px}
@media (max-width: 1500px) {#lift-notes p, #lift-notes li {font-size: 13px !important}
  #lift-legend-items {font-size: 12px} #lift-notes table {font-size: 12px !important}}
#lift-notes p {margin: 6px 0 !important}
#lift-notes ul {margin: 2px 0 !important}
#lift-notes li {margin: 0 !important}
#lift-notes table {margin: 2px 0 !important; width: auto !important; font-size: 13px !important}
#lift-notes th, #lift-notes td {padding: 1px 6px !important; white-space: nowrap;
  word-break: keep-all}
#status {min-height: 1.5em}
#status p {margin: 0 !important}
#query-column {gap: 10px !important}
[id^=examples] .gallery {gap: 6px !important}
[id^=examples] .gallery-item {min-width: 0 !important; padding: 0 !important;
  flex: 0 0 calc((100% - 30px) / 6) !important}
[id^=examples] .container {width: 100% !important; max-width: none !important;
  height: auto !important; aspect-ratio: 1 / 2}
[id^=examples] img {width: 100% !important; height: 100% !important; max-height: none !important;
  object-fit: cover}
#matches .grid-container {grid-template-columns: repeat(5, minmax(0, 1fr)) !important;
  grid-template-rows: none !important; grid-auto-rows: auto !important; gap: 4px !important}
#matches .thumbnail-item {aspect-ratio: 1 / 2 !important; height: auto !important}
#matches .caption-label {font-size: 12px !important; padding: 0 3px !important;
  max-width: 100% !important; opacity: 0.9 !important}
#export-files .empty, #turntable-file .empty {min-height: 0 !important; height: 72px !important}
#results table {width: 100%}
#results th, #results td {padding: 4px 8px !important; white-space: nowrap;
  word-break: keep-all}
"""
