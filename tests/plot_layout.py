"""Layout checks of a rendered matplotlib figure, measured with the Agg renderer on the drawn artists.

``layout_problems(fig)`` draws the figure once, records every text the renderer actually draws (tick labels
outside the view are not drawn and not checked) and reports, one line each:

* two drawn texts whose bounding boxes overlap (titles on the experiment label, crowded tick labels);
* a text that reaches outside the figure (a y label clipped at the left edge);
* a text of one axes inside the frame of another (colour-bar ticks running into the next panel);
* a legend over a text, or over data drawn in data coordinates (curves, filled histograms, points, error
  bars; reference lines such as ``axhline`` are allowed under a legend);
* an axes with drawn tick labels but no axis label on that axis.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import Collection, LineCollection, PathCollection
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.patches import Patch
from matplotlib.path import Path as MplPath
from matplotlib.text import Text
from matplotlib.transforms import Bbox

#: Pixels two boxes may share before they count as overlapping (antialiasing, glyph side bearings).
TOLERANCE = 1.0


def _name(t: Text) -> str:
    return repr(t.get_text()[:40])


def _shrunk(b: Bbox, by: float = TOLERANCE) -> Bbox:
    return Bbox.from_extents(b.x0 + by, b.y0 + by, b.x1 - by, b.y1 - by)


def drawn_texts(fig: Figure) -> tuple[list[Text], Any]:
    """Every Text the Agg renderer draws for ``fig`` (in drawing order), and that renderer."""
    canvas = FigureCanvasAgg(fig)
    renderer = canvas.get_renderer()
    seen: dict[int, Text] = {}
    real = renderer.draw_text

    def record(gc: Any, x: float, y: float, s: str, prop: Any, angle: float, ismath: Any = False,
               mtext: Text | None = None) -> Any:
        if mtext is not None and s.strip():
            seen.setdefault(id(mtext), mtext)
        return real(gc, x, y, s, prop, angle, ismath, mtext)

    renderer.draw_text = record  # type: ignore[method-assign]
    fig.draw(renderer)
    renderer.draw_text = real  # type: ignore[method-assign]
    return list(seen.values()), renderer


def _legends(fig: Figure) -> list[Legend]:
    found = [leg for leg in fig.legends]
    found += [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    return [leg for leg in found if leg.get_visible()]


def _legend_texts(leg: Legend) -> set[int]:
    return {id(t) for t in [*leg.get_texts(), leg.get_title()]}


def _visible_extent(leg: Legend, renderer: Any) -> Bbox:
    """What a legend shows: its frame when drawn, else its entries and title (not the empty padding around)."""
    if leg.get_frame_on():
        return leg.get_window_extent(renderer)
    parts = [leg._legend_handle_box.get_window_extent(renderer)]  # the rows of handles and labels
    if leg.get_title().get_text().strip():
        parts.append(leg.get_title().get_window_extent(renderer))
    return Bbox.union(parts)


def _display_path(vertices: np.ndarray, transform: Any) -> MplPath | None:
    """Vertices through ``transform``; NaN/inf points break the line (as matplotlib draws it)."""
    if len(vertices) == 0:
        return None
    xy = transform.transform(np.asarray(vertices, dtype=float))
    ok = np.isfinite(xy).all(axis=1)
    if not ok.any():
        return None
    codes = np.full(len(xy), MplPath.LINETO, dtype=MplPath.code_type)
    starts = ok & ~np.concatenate(([False], ok[:-1]))
    codes[starts] = MplPath.MOVETO
    return MplPath(xy[ok], codes[ok])


def _data_shapes(ax: Axes) -> list[tuple[str, MplPath, bool]]:
    """(what, display path, filled) of everything ``ax`` draws in data coordinates."""
    shapes: list[tuple[str, MplPath, bool]] = []
    for line in ax.get_lines():
        if line.get_visible() and line.get_transform() == ax.transData:
            path = _display_path(line.get_xydata(), ax.transData)
            if path is not None:
                shapes.append((f"line {line.get_label()!r}", path, False))
    for patch in ax.patches:
        if isinstance(patch, Patch) and patch.get_visible() and patch.get_transform().contains_branch(ax.transData):
            for poly in patch.get_path().to_polygons(closed_only=False):
                path = _display_path(poly, patch.get_transform())
                if path is not None:
                    shapes.append((f"{type(patch).__name__} {patch.get_label()!r}", path, bool(patch.get_fill())))
    for coll in ax.collections:
        if not (isinstance(coll, Collection) and coll.get_visible()):
            continue
        if isinstance(coll, PathCollection) and len(coll.get_offsets()):  # scatter: the points
            xy = coll.get_offset_transform().transform(np.asarray(coll.get_offsets(), dtype=float))
            for p in xy[np.isfinite(xy).all(axis=1)]:
                shapes.append((f"points {coll.get_label()!r}", MplPath([p, p]), False))
        elif isinstance(coll, LineCollection):  # error bars
            for seg in coll.get_segments():
                path = _display_path(seg, coll.get_transform())
                if path is not None:
                    shapes.append((f"segments {coll.get_label()!r}", path, False))
        elif coll.get_transform().contains_branch(ax.transData):  # fill_between bands
            for cpath in coll.get_paths():
                for poly in cpath.to_polygons(closed_only=False):
                    path = _display_path(poly, coll.get_transform())
                    if path is not None:
                        shapes.append((f"band {coll.get_label()!r}", path, True))
    return shapes


def _axes_of(fig: Figure) -> list[Axes]:
    return [ax for ax in fig.axes if ax.get_visible() and ax.axison]


def layout_problems(fig: Figure) -> list[str]:
    """Everything wrong with the layout of ``fig``, one line each; empty when it reads cleanly."""
    texts, renderer = drawn_texts(fig)
    boxes = {id(t): t.get_window_extent(renderer) for t in texts}
    problems: list[str] = []
    figbox = fig.bbox
    for t in texts:
        b = boxes[id(t)]
        if (b.x0 < figbox.x0 - TOLERANCE or b.y0 < figbox.y0 - TOLERANCE or b.x1 > figbox.x1 + TOLERANCE
                or b.y1 > figbox.y1 + TOLERANCE):
            problems.append(f"text {_name(t)} reaches outside the figure ({b.bounds} vs {figbox.bounds})")
    for i, a in enumerate(texts):
        for b in texts[i + 1:]:
            if _shrunk(boxes[id(a)]).overlaps(_shrunk(boxes[id(b)])):
                problems.append(f"texts {_name(a)} and {_name(b)} overlap")
    axes = _axes_of(fig)
    frames = {id(ax): ax.get_window_extent(renderer) for ax in axes}
    for t in texts:
        owner = t.axes
        if owner is None:
            continue
        for ax in axes:
            same_place = np.allclose(frames[id(ax)].extents, owner.get_window_extent(renderer).extents)
            if ax is owner or same_place:  # twin axes share the frame
                continue
            if _shrunk(boxes[id(t)]).overlaps(_shrunk(frames[id(ax)])):
                problems.append(f"text {_name(t)} runs into another panel's frame")
    for leg in _legends(fig):
        frame = _visible_extent(leg, renderer)
        own = _legend_texts(leg)
        for t in texts:
            if id(t) not in own and _shrunk(boxes[id(t)]).overlaps(_shrunk(frame)):
                problems.append(f"legend {_name(leg.get_title()) if leg.get_title().get_text() else ''} "
                                f"covers text {_name(t)}")
        inner = _shrunk(frame, 2 * TOLERANCE)
        for ax in axes:
            seen = Bbox.intersection(inner, frames[id(ax)])  # an axes' data are clipped to its frame
            if seen is None or seen.width <= 0 or seen.height <= 0:
                continue
            for what, path, filled in _data_shapes(ax):
                if path.intersects_bbox(seen, filled=filled):
                    problems.append(f"legend covers data: {what}")
    for ax in axes:
        for axis, name in ((ax.xaxis, "x"), (ax.yaxis, "y")):
            ticks = {id(t) for t in axis.get_ticklabels(which="both")}
            drawn = any(id(t) in ticks for t in texts)
            labelled = bool(axis.get_label().get_text().strip())
            if drawn and not labelled:
                problems.append(f"axes at {np.round(ax.get_position().bounds, 2).tolist()}: {name} tick labels "
                                "but no axis label")
    return sorted(set(problems))
