"""A variant's CPU profile as files people open: a flame graph (SVG) and a speedscope file.

Both are drawn from py-spy's collapsed stacks (``profiles/<variant>/stacks.txt``; py-spy
writes one format per recording, and the collapsed one is lossless), with the ``process``
frames of py-spy's ``--subprocesses`` left out so every worker's stacks merge into one graph.

* ``flame.svg``: root at the bottom, each frame as wide as its share of the samples, coloured
  by its layer (``analysing.layers``; grey: no layer, e.g. the standard library); frames
  narrower than ``MIN_WIDTH`` of the total are left out, their samples still counted in
  their callers' widths. Frames are merged by function and file (line numbers dropped).
  Hovering a box in a browser shows its frame, samples and share (an SVG ``<title>``).
* ``speedscope.json``: the `speedscope file format <https://www.speedscope.app/file-format-schema.json>`_
  (one "sampled" profile, weights = sample counts, line numbers kept); open it at
  https://www.speedscope.app or with ``npx speedscope FILE``.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from chatbench.analysing.layers import LABELS, layer_of_frame, split_frame
from chatbench.presenting import chartread
from chatbench.storing.atomic import write_text_atomic

FLAME_SVG = "flame.svg"
SPEEDSCOPE_JSON = "speedscope.json"
SPEEDSCOPE_SCHEMA = "https://www.speedscope.app/file-format-schema.json"
MIN_WIDTH = 0.002
NO_LAYER = "#c9c9c9"
LAYER_COLOURS = {
    "server": "#4e79a7",
    "framework": "#f28e2b",
    "serialisation": "#e15759",
    "orm": "#76b7b2",
    "driver": "#59a14f",
    "json": "#edc948",
    "own": "#b07aa1",
    "other": "#9c755f",
}
_OPENING = re.compile(r'<g id="frame\d+">')
_ROW_IN = 0.17
_WIDTH_IN = 16.0

Stacks = Sequence[tuple[tuple[str, ...], int]]


def write_speedscope(stacks: Stacks, path: Path, name: str) -> Path:
    """The stacks as a speedscope file (see the module docstring)."""
    frames: list[dict[str, object]] = []
    index: dict[str, int] = {}
    samples, weights = [], []
    for stack, count in stacks:
        ids = []
        for frame in stack:
            if frame not in index:
                index[frame] = len(frames)
                parts = split_frame(frame)
                entry: dict[str, object] = {"name": parts[0] if parts else frame}
                if parts:
                    entry["file"] = parts[1]
                    line = frame.rpartition(":")[2].rstrip(")")
                    if line.isdigit():
                        entry["line"] = int(line)
                frames.append(entry)
            ids.append(index[frame])
        samples.append(ids)
        weights.append(count)
    doc = {
        "$schema": SPEEDSCOPE_SCHEMA,
        "exporter": "chatbench (from py-spy --format raw)",
        "name": name,
        "activeProfileIndex": 0,
        "shared": {"frames": frames},
        "profiles": [
            {
                "type": "sampled",
                "name": name,
                "unit": "none",
                "startValue": 0,
                "endValue": sum(weights),
                "samples": samples,
                "weights": weights,
            }
        ],
    }
    return write_text_atomic(path, json.dumps(doc, separators=(",", ":")) + "\n")


@dataclass
class _Node:
    count: int = 0
    children: dict[str, _Node] = field(default_factory=dict)


def _merged(frame: str) -> str:
    """``func (file:line)`` → ``func (file)``: one box per function and file."""
    parts = split_frame(frame)
    return f"{parts[0]} ({parts[1]})" if parts else frame


def _tree(stacks: Stacks) -> _Node:
    root = _Node()
    for stack, count in stacks:
        root.count += count
        node = root
        for frame in stack:
            node = node.children.setdefault(_merged(frame), _Node())
            node.count += count
    return root


def _colour(label: str) -> str:
    parts = split_frame(label)
    layer = layer_of_frame(*parts) if parts else None
    return LAYER_COLOURS.get(layer or "", NO_LAYER)


def flame_title(title: str, samples: int) -> str:
    """The flame graph's title as drawn."""
    return f"{title} — {samples} samples; colour = layer"


def draw_flamegraph(stacks: Stacks, path: Path, title: str) -> Path:
    """The flame graph as SVG (see the module docstring)."""
    fig, boxes, total = flame_figure(stacks, title)
    chartread.tag(fig)
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    tips = {
        f'<g id="frame{i}">': f"{label}: {round(w * total)} samples, {100 * w:.1f} %"
        for i, (_, _, w, label) in enumerate(boxes)
    }
    svg = _OPENING.sub(
        lambda m: m.group(0) + f"<title>{escape(tips[m.group(0)])}</title>", buf.getvalue()
    )
    return write_text_atomic(path, svg)


def flame_figure(
    stacks: Stacks, title: str
) -> tuple[Figure, list[tuple[float, int, float, str]], int]:
    """The flame graph's figure, its boxes (x, depth, width, frame) and its sample count."""
    root = _tree(stacks)
    total = max(root.count, 1)
    boxes: list[tuple[float, int, float, str]] = []  # x, depth, width, frame

    def walk(node: _Node, x: float, depth: int) -> None:
        for label, child in sorted(node.children.items()):
            width = child.count / total
            if width >= MIN_WIDTH:
                boxes.append((x, depth, width, label))
                walk(child, x, depth + 1)
            x += width

    walk(root, 0.0, 0)
    depth = max((b[1] for b in boxes), default=0) + 1
    fig = Figure(figsize=(_WIDTH_IN, 1.6 + _ROW_IN * depth), layout="constrained")
    ax = fig.subplots()
    for i, (x, d, w, label) in enumerate(boxes):
        box = Rectangle((x, d), w, 0.92, facecolor=_colour(label), edgecolor="white", linewidth=0.3)
        box.set_gid(f"frame{i}")  # the SVG group that gets this frame's hover text
        ax.add_patch(box)
    chars_per_unit = _WIDTH_IN * 72 / (6.0 * 0.62)
    for x, d, w, label in boxes:
        fits = int(w * chars_per_unit) - 1
        if fits >= 4:
            name = label.split(" (", 1)[0]
            text = name if len(name) <= fits else name[: fits - 1] + "…"
            ax.text(x + 0.002, d + 0.46, text, fontsize=6, va="center", ha="left", clip_on=True)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, depth)
    ax.set_yticks([])
    ax.set_xlabel("share of the samples")
    ax.set_title(flame_title(title, root.count), fontsize=10, loc="left")
    handles = [Patch(color=LAYER_COLOURS[k], label=LABELS[k]) for k in LAYER_COLOURS]
    handles.append(Patch(color=NO_LAYER, label="no layer (standard library …)"))
    fig.legend(handles=handles, loc="outside lower center", ncol=3, fontsize=7, frameon=False)
    return fig, boxes, total
