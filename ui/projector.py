"""Projector mode for the classroom pages: one switch, kept for the whole session, and the sizes it sets.

Off, the pages are drawn for a laptop; on, for a 1280 × 720 projector: images at least 320 px, every text a chart
draws, every table cell and dropdown value at least 16 px, larger text, and narrower margins and sidebar so that the
controls and what they change fit on one screen. Pages draw their charts with `show_chart`, which applies the sizes,
and their tables with `show_table` and `edit_numbers`, which draw them in HTML the styling reaches.
"""
from collections.abc import Mapping
from typing import NamedTuple

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

PROJECTOR = "projector"  # session_state: True while projector mode is on, on every page of the session
SWITCH = "projector_switch"  # the toggle's own key; Streamlit forgets a widget's state on pages that do not draw it


class Sizes(NamedTuple):
    image_px: int  # side of an image
    cell_px: int  # side of one number's cell in a grid
    grid_font_px: int  # a grid's numbers
    font_px: int  # chart titles, labels and hover text
    chart_px: int  # height of a line or bar chart
    least_font_px: int  # no text a chart draws is smaller (0: the chart's own sizes)


LAPTOP = Sizes(image_px=280, cell_px=42, grid_font_px=16, font_px=14, chart_px=300, least_font_px=0)
PROJECTED = Sizes(image_px=320, cell_px=44, grid_font_px=20, font_px=18, chart_px=320, least_font_px=16)

# Selects elements by Streamlit's internal data-testid attributes: they are listed, with a canary test, in
# ui/streamlit_internals.py (PROJECTOR_TESTIDS); add any new one there
PROJECTOR_CSS = """
<style>
[data-testid="stMainBlockContainer"] { padding: 3.5rem 1.5rem 3rem; max-width: none; }
[data-testid="stSidebar"] { width: 15rem !important; min-width: 15rem !important; max-width: 15rem !important; }
[data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li { font-size: 1.15rem; }
[data-testid="stCaptionContainer"] { font-size: 1rem; }
[data-testid="stWidgetLabel"] p { font-size: 1.05rem; }
[data-testid="stTable"] td, [data-testid="stTable"] th { font-size: 1.1rem; }
[data-testid="stSelectbox"] input, [data-testid="stSelectboxVirtualDropdown"] [role="option"], [data-testid="stNumberInput"] input,
[data-testid="stTextInput"] input { font-size: 1.05rem; }
[data-testid="stSidebarNav"] .stMarkdownEllipsis, [data-testid="stSidebarNav"] .stMarkdownEllipsis p {
  white-space: normal; overflow: visible; text-overflow: clip; }
h1 { font-size: 2.2rem !important; padding: 0 0 0.25rem !important; }
h2 { font-size: 1.6rem !important; padding: 0.5rem 0 0.25rem !important; }
</style>
"""


def projector_on() -> bool:
    return bool(st.session_state.get(PROJECTOR, False))


def current_sizes() -> Sizes:
    """The sizes to draw with: for a projector while the switch is on, else for a laptop."""
    return PROJECTED if projector_on() else LAPTOP


def sized(fig: go.Figure) -> go.Figure:
    """A chart with its height and every text (title, axes, legend, facet labels, hover) at the current sizes; Streamlit's
    theme sets each of these, so a single layout font size would not reach them."""
    sizes = current_sizes()
    small = sizes.font_px - 2
    fig.update_layout(height=sizes.chart_px, title_font_size=sizes.font_px, legend_font_size=small, legend_title_font_size=small,
                      hoverlabel_font_size=sizes.font_px)
    fig.update_xaxes(tickfont_size=small, title_font_size=small)
    fig.update_yaxes(tickfont_size=small, title_font_size=small)
    fig.update_annotations(font_size=small)
    return fig


def readable(fig: go.Figure) -> go.Figure:
    """In projector mode, every text the chart draws (titles, ticks, legend, annotations, colour bars, numbers on
    bars and cells, hover) raised to at least `least_font_px`; sizes already larger are kept."""
    least = current_sizes().least_font_px
    if not least:
        return fig

    def larger(size):  # one size, or one per bar or point
        return [max(s or 0, least) for s in size] if isinstance(size, tuple | list) else max(size or 0, least)

    def at_least(font) -> dict:
        return dict(size=larger(font.size))

    layout = fig.layout
    fig.update_layout(font=at_least(layout.font), title_font=at_least(layout.title.font),
                      legend_font=at_least(layout.legend.font), legend_title_font=at_least(layout.legend.title.font),
                      hoverlabel_font=at_least(layout.hoverlabel.font))
    for axis in (*fig.select_xaxes(), *fig.select_yaxes()):
        axis.update(tickfont=at_least(axis.tickfont), title_font=at_least(axis.title.font))
    for annotation in layout.annotations:
        annotation.font.size = larger(annotation.font.size)
    for bar in [c.colorbar for c in fig.select_coloraxes()] + [t.colorbar for t in fig.data if "colorbar" in t]:
        bar.update(tickfont=at_least(bar.tickfont), title_font=at_least(bar.title.font))
    for trace in fig.data:
        if "textfont" in trace:
            trace.textfont.size = larger(trace.textfont.size)
    return fig


def show_chart(fig: go.Figure, key: str | None = None, **select):
    """A classroom chart, readable in projector mode, without Plotly's toolbar; returns Streamlit's selection state."""
    return st.plotly_chart(readable(fig), key=key, config={"displayModeBar": False}, **select)


def show_table(frame: pd.DataFrame, formats: Mapping[str, str] | None = None, *, height: int | None = None) -> None:
    """A classroom table without its index, each column in `formats` shown by its format string ("{:.1%}"), a missing
    number as "–". In projector mode an HTML table, whose cells the styling sets at 16 px or more (scrolling past
    `height` px); otherwise Streamlit's sortable grid, drawn on a canvas at 13 px that no styling reaches."""
    styled = frame.style.format(formats or {}, na_rep="–")
    if projector_on():
        st.table(styled, hide_index=True, height=height or "content")
    else:
        st.dataframe(styled, hide_index=True, height=height or "auto")


def edit_numbers(start: pd.DataFrame, key: str, *, number_format: str | None = None, hide_index: bool = False) -> pd.DataFrame:
    """A table of numbers edited cell by cell from `start`; a cleared cell is NaN. In projector mode a grid of number
    boxes the styling reaches; otherwise Streamlit's editor, whose canvas stays at 13 px. The edits outlast the switch:
    Streamlit forgets a widget's value on a run that does not draw it."""
    kept = f"{key}_numbers"
    shown = st.session_state.get(kept, start)
    if projector_on():
        edited = _number_boxes(shown, key, number_format, hide_index)
    else:
        number = st.column_config.NumberColumn(format=number_format)
        edited = st.data_editor(shown, key=key, hide_index=hide_index, column_config=dict.fromkeys(shown.columns, number))
    st.session_state[kept] = edited
    return edited


def _number_boxes(shown: pd.DataFrame, key: str, number_format: str | None, hide_index: bool) -> pd.DataFrame:
    """`shown` as rows of number boxes under its column names, each row after its name unless `hide_index`."""
    first = 0 if hide_index else 1  # the column of row names
    for column, name in zip(st.columns(first + shown.shape[1], gap="xsmall")[first:], shown.columns, strict=True):
        column.markdown(f"**{name}**")
    rows = []
    for r, (row_name, values) in enumerate(shown.iterrows()):
        boxes = st.columns(first + shown.shape[1], gap="xsmall", vertical_alignment="center")
        if not hide_index:
            boxes[0].markdown(f"**{row_name}**")
        rows.append([box.number_input(f"Row {r + 1 if hide_index else row_name}, column {column}", key=f"{key}_{r}_{c}",
                                      value=None if pd.isna(value) else float(value), step=0.01, format=number_format,
                                      label_visibility="collapsed")
                     for c, (box, column, value) in enumerate(zip(boxes[first:], shown.columns, values, strict=True))])
    return pd.DataFrame(rows, index=shown.index, columns=shown.columns, dtype=float)


def _remember_switch() -> None:
    st.session_state[PROJECTOR] = st.session_state[SWITCH]


def intro_with_switch(caption: str) -> None:
    """The page's opening caption with the Projector switch beside it; in projector mode, the page restyled."""
    st.session_state[SWITCH] = projector_on()  # the switch starts as the session left it, whichever page set it
    left, right = st.columns([5, 1], vertical_alignment="center")
    left.caption(caption)
    right.toggle("Projector", key=SWITCH, on_change=_remember_switch,
                 help="Larger images, numbers and text, laid out so that each section's controls and what they change "
                      "fit on a 1280 × 720 screen. Stays on for every classroom page.")
    if projector_on():
        st.html(PROJECTOR_CSS)
