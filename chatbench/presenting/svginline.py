"""A saved chart's SVG made ready to sit inline in the report, beside the others.

Inline SVG keeps the report one self-contained file at a fraction of base64 PNGs' weight
(text stays text, ``svg.fonttype = "none"``), and scales to the page's width. ``inline``
parses matplotlib's SVG and writes it back smaller: no XML prologue or metadata; only the ids
something refers to (a clip path, a marker), each under a prefix, since ids are page-wide and
two charts' must not collide; no attribute-less ``<g>`` wrappers; coordinates rounded to a
tenth of a point (invisible at any zoom a report is read at); the fixed size replaced by a
``viewBox`` that scales. Text content is never touched: the numbers a chart shows stay
exactly as drawn (tests read them back, ``chartread``).
"""

from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ET
from html import escape
from pathlib import Path

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
_HREF = f"{{{XLINK_NS}}}href"
# Attributes whose values are coordinates or lengths, never text a reader sees.
_GEOMETRY = frozenset(
    {"d", "x", "y", "x1", "x2", "y1", "y2", "cx", "cy", "r", "width", "height", "points"}
)
_DECIMALS = re.compile(r"(-?\d+\.\d)\d+")
_REFERENCE = re.compile(r"url\(#([^)]+)\)")
_NO_ROTATION = re.compile(r"^rotate\(-?0 [^)]*\)$")

ET.register_namespace("", SVG_NS)
ET.register_namespace("xlink", XLINK_NS)


def _referenced(root: ET.Element) -> set[str]:
    found: set[str] = set()
    for node in root.iter():
        for key, value in node.attrib.items():
            found.update(_REFERENCE.findall(value))
            if key == _HREF and value.startswith("#"):
                found.add(value[1:])
    return found


def _unwrap(parent: ET.Element) -> None:
    """Replace every attribute-less ``<g>`` below ``parent`` by its children, in place."""
    children = list(parent)
    rebuilt: list[ET.Element] = []
    for child in children:
        _unwrap(child)
        if child.tag == f"{{{SVG_NS}}}g" and not child.attrib and not (child.text or "").strip():
            rebuilt.extend(child)
        else:
            rebuilt.append(child)
    if rebuilt != children:
        for child in children:
            parent.remove(child)
        parent.extend(rebuilt)


def inline(svg: str, prefix: str, title: str) -> str:
    """``svg`` (as ``chartkit.save`` wrote it) as an ``<svg>`` element for the report page,
    its ids under ``prefix`` and ``title`` as its accessible name."""
    root = ET.fromstring(svg.encode("utf-8"))
    if root.tag != f"{{{SVG_NS}}}svg":
        raise ValueError("not an SVG document: no <svg> element")
    for meta in root.findall(f"{{{SVG_NS}}}metadata"):
        root.remove(meta)
    kept = _referenced(root)
    for node in root.iter():
        ident = node.attrib.pop("id", None)
        if ident in kept:
            node.set("id", f"{prefix}-{ident}")
        for key, value in list(node.attrib.items()):
            if key in _GEOMETRY:
                node.set(key, " ".join(_DECIMALS.sub(r"\1", value).split()))
            elif key == "transform" and _NO_ROTATION.match(value):
                del node.attrib[key]
            elif key == _HREF and value.startswith("#"):
                node.set(key, f"#{prefix}-{value[1:]}")
            elif "url(#" in value:
                node.set(key, _REFERENCE.sub(lambda m: f"url(#{prefix}-{m.group(1)})", value))
        if node.tail is not None and not node.tail.strip():
            node.tail = None
        if len(node) and node.text is not None and not node.text.strip():
            node.text = None
    _unwrap(root)
    view = root.get("viewBox")
    root.attrib.clear()
    if view:
        root.set("viewBox", view)
    root.set("class", "chart")
    root.set("role", "img")
    root.set("aria-label", title)
    return ET.tostring(root, encoding="unicode")


def figure_html(path: Path, prefix: str, title: str) -> str:
    """A chart for the page from its files: the SVG inlined, else the PNG as a data URI."""
    svg = path.with_suffix(".svg")
    if svg.is_file():
        return inline(svg.read_text(encoding="utf-8"), prefix, title)
    data = base64.b64encode(path.with_suffix(".png").read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{escape(title)}">'
