"""What a chart says, read back: its texts by role from the saved SVG, and its overlapping texts.

A chart is a claim like any sentence, so tests read every chart the harness draws back from
its file and compare the title, axis labels, legend entries and annotated numbers with the
data it was drawn from. For that the SVG keeps its text as ``<text>`` elements
(``svg.fonttype = "none"``, set by ``chartkit``), and ``tag`` gives each text artist of a
figure an SVG id naming its role (``cb-title-0``, ``cb-legend-3``, …) just before it is saved;
``read`` parses them back into a ``ChartText``. ``overlaps`` finds text boxes that collide,
from matplotlib's rendered extents (rotated labels as rotated rectangles), so a value label
drawn over a panel title fails a test rather than a reader.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.text import Text

ROLES = ("suptitle", "title", "xlabel", "ylabel", "legend", "annotation", "note")
_ID = re.compile(r"^cb-(" + "|".join(ROLES) + r")-\d+$")
_SVG = "{http://www.w3.org/2000/svg}"


@dataclass(frozen=True)
class ChartText:
    """Every text of a saved chart, by role, in drawing order (a multi-line text is one entry
    with its lines joined by a newline)."""

    suptitle: str = ""
    titles: tuple[str, ...] = ()  # panel titles
    xlabels: tuple[str, ...] = ()
    ylabels: tuple[str, ...] = ()
    legend: tuple[str, ...] = ()  # legend entries (and legend titles)
    annotations: tuple[str, ...] = ()  # texts placed in a panel: value labels, notes
    notes: tuple[str, ...] = ()  # texts placed on the figure: footer, notes
    xticks: tuple[str, ...] = field(default=())
    yticks: tuple[str, ...] = field(default=())

    @property
    def everything(self) -> str:
        """All texts in one string, for "does the chart say X anywhere"."""
        parts = [self.suptitle, *self.titles, *self.xlabels, *self.ylabels, *self.legend]
        return "\n".join([*parts, *self.annotations, *self.notes])


def _counter() -> dict[str, int]:
    return dict.fromkeys(ROLES, 0)


def tag(fig: Figure) -> None:
    """Give every text artist of ``fig`` an SVG id naming its role (see the module docstring)."""
    seen = _counter()

    def mark(text: Text | None, role: str) -> None:
        if text is None or not text.get_text():
            return
        text.set_gid(f"cb-{role}-{seen[role]}")
        seen[role] += 1

    mark(fig._suptitle, "suptitle")
    for text in fig.texts:
        if text is not fig._suptitle:
            mark(text, "note")
    for legend in fig.legends:
        mark(legend.get_title(), "legend")
        for text in legend.get_texts():
            mark(text, "legend")
    for ax in fig.axes:
        for title in (ax.title, ax._left_title, ax._right_title):
            mark(title, "title")
        mark(ax.xaxis.label, "xlabel")
        mark(ax.yaxis.label, "ylabel")
        for text in ax.texts:
            mark(text, "annotation")
        legend = ax.get_legend()
        if legend is not None:
            mark(legend.get_title(), "legend")
            for text in legend.get_texts():
                mark(text, "legend")


def _text_of(group: ET.Element) -> str:
    lines = []
    for node in group.iter(f"{_SVG}text"):
        lines.append("".join(node.itertext()))
    return "\n".join(lines)


def read(svg: Path | str) -> ChartText:
    """The texts of a chart saved by ``chartkit.save``, by role."""
    root = ET.parse(svg).getroot()
    found: dict[str, list[str]] = {role: [] for role in ROLES}
    ticks: dict[str, list[str]] = {"x": [], "y": []}
    for group in root.iter(f"{_SVG}g"):
        gid = group.get("id", "")
        match = _ID.match(gid)
        if match:
            found[match.group(1)].append(_text_of(group))
        elif gid.startswith(("xtick_", "ytick_")):
            text = _text_of(group)
            if text:
                ticks[gid[0]].append(text)
    return ChartText(
        suptitle="\n".join(found["suptitle"]),
        titles=tuple(found["title"]),
        xlabels=tuple(found["xlabel"]),
        ylabels=tuple(found["ylabel"]),
        legend=tuple(found["legend"]),
        annotations=tuple(found["annotation"]),
        notes=tuple(found["note"]),
        xticks=tuple(ticks["x"]),
        yticks=tuple(ticks["y"]),
    )


# --------------------------------------------------------------------------- overlaps


def _tick_labels(ax: Axes) -> set[Text]:
    return {*ax.xaxis.get_ticklabels(which="both"), *ax.yaxis.get_ticklabels(which="both")}


def _shown_tick(text: Text, ax: Axes) -> bool:
    """A tick label is drawn only where its tick lies within the axis' view."""
    x, y = text.get_position()
    if text in set(ax.xaxis.get_ticklabels(which="both")):
        low, high = sorted(ax.xaxis.get_view_interval())
        value = x
    else:
        low, high = sorted(ax.yaxis.get_view_interval())
        value = y
    span = (high - low) or 1.0
    return low - 1e-9 * span <= value <= high + 1e-9 * span


def _drawn_texts(fig: Figure) -> list[Text]:
    """Every text a reader sees: visible, non-empty, not clipped to a box of its own (the
    flame graph's frame names), and for ticks only those within the view."""
    ticks = {id(t): ax for ax in fig.axes for t in _tick_labels(ax)}
    out = []
    for text in fig.findobj(Text):
        if not (text.get_visible() and text.get_text().strip()):
            continue
        if text.get_clip_on() and text.get_clip_box() is not None and id(text) not in ticks:
            continue
        ax = ticks.get(id(text))
        if ax is not None and not _shown_tick(text, ax):
            continue
        out.append(text)
    return out


def _corners(text: Text, renderer: object) -> np.ndarray:
    """The four corners of a text's box in display pixels, rotated as it is drawn."""
    box = text.get_window_extent(renderer)  # type: ignore[arg-type]
    angle = math.radians(text.get_rotation() % 180)
    c, s = abs(math.cos(angle)), abs(math.sin(angle))
    width, height = box.width, box.height
    denominator = c * c - s * s
    if abs(denominator) > 1e-3 and s > 1e-6:  # undo the axis-aligned box of a rotated text
        width = (box.width * c - box.height * s) / denominator
        height = (box.height * c - box.width * s) / denominator
    cx, cy = (box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2
    a = math.radians(text.get_rotation())
    ux, uy = math.cos(a), math.sin(a)
    vx, vy = -uy, ux
    hw, hh = abs(width) / 2, abs(height) / 2
    signs = ((-1, -1), (1, -1), (1, 1), (-1, 1))
    return np.array(
        [[cx + sx * hw * ux + sy * hh * vx, cy + sx * hw * uy + sy * hh * vy] for sx, sy in signs]
    )


def _separated(a: np.ndarray, b: np.ndarray, margin: float) -> bool:
    """Separating-axis test of two convex quadrilaterals, allowing ``margin`` pixels of touch."""
    for poly in (a, b):
        for i in range(4):
            edge = poly[(i + 1) % 4] - poly[i]
            axis = np.array([-edge[1], edge[0]])
            norm = np.hypot(*axis)
            if norm == 0:
                continue
            axis /= norm
            pa, pb = a @ axis, b @ axis
            if pa.max() <= pb.min() + margin or pb.max() <= pa.min() + margin:
                return True
    return False


def overlaps(fig: Figure, margin: float = 1.0) -> list[tuple[str, str]]:
    """Pairs of texts of ``fig`` whose rendered boxes overlap by more than ``margin`` pixels."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    texts = _drawn_texts(fig)
    boxes = [(t, _corners(t, renderer)) for t in texts]
    return [
        (a.get_text(), b.get_text())
        for (a, pa), (b, pb) in combinations(boxes, 2)
        if not _separated(pa, pb, margin)
    ]
