"""Figures shared by the reports and the viewer (matplotlib, never attached to pyplot).

:func:`timeline_figure` draws the expected-effect bands of :mod:`injectmap.teaching.timeline`;
:func:`labelled_picture` puts a chart view's labels in a margin on each side, with leader lines.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from injectmap.planning.plan import Plan
from injectmap.teaching import timeline as tl_mod
from injectmap.teaching.timeline import AreaCurve

__all__ = ["Label", "LabelledView", "PlacedLabel", "label_view", "labelled_picture", "layout_column", "legend_items",
           "timeline_figure"]


#: the timeline's type sizes (pt) for print: the figure is placed at about the text width of an A4 page
_PRINT_PT = {"title": 9.0, "axis": 9.0, "ticks": 9.0, "legend": 8.0}


def timeline_figure(curves: Sequence[AreaCurve] | Plan | Mapping[str, Any], days_max: float | None = None,
                    figsize: tuple[float, float] = (8.0, 3.9), dpi: int = 100, text_pt: float | None = None,
                    title: bool = True) -> Any:
    """A matplotlib Figure of the bands, with the onset range, the peak and the two-week review marked (the
    review only when a first visit's band starts on day 0: a touch-up visit's handout counts from the touch-up,
    :func:`reports.chart.handout_curves`, and offers no second one).

    The marks are named in the legend, under the plot, beside the bands (text over the plot would crowd the first
    days, where the onset and the peak lie a few days apart).

    Parameters
    ----------
    curves : list of AreaCurve, or a plan
        What to draw (a plan is turned into :func:`plan_curves`); an empty list draws the upper-face
        band as an example.
    days_max : float, optional
        Right end of the day axis (default: past the latest wear-off).
    figsize, dpi
        The figure's size (inches) and resolution.
    text_pt : float, optional
        Every text's size (pt), for a screen where the figure is shown at its own size (the walkthrough); by
        default the print sizes of :data:`_PRINT_PT`.
    title : bool
        With the title line (the walkthrough says it above the picture, where it wraps).

    Returns
    -------
    matplotlib.figure.Figure
        Not attached to pyplot (no global state); save it with ``fig.savefig``.
    """
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    pt = dict.fromkeys(_PRINT_PT, text_pt) if text_pt else dict(_PRINT_PT)
    if not isinstance(curves, (list, tuple)):
        curves = tl_mod.plan_curves(curves)  # type: ignore[arg-type]  # a plan or its dict
    curves = list(curves) or [tl_mod.AreaCurve("upper_face", str(tl_mod._tl()["groups"]["upper_face"]["title"]), "initial",
                                        0.0, ())]
    tl = tl_mod._tl()
    end = max(max(tl["groups"][c.group]["wear_off_days"]) + c.start_day for c in curves)
    days_max = float(days_max or 10 * np.ceil((end + 10) / 10))
    days = np.linspace(0.0, days_max, int(days_max * 4) + 1)
    fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    on_lo, on_hi = tl["onset_days"]["range"]
    pk_lo, pk_hi = tl["peak_days"]["range"]
    ax.axvspan(on_lo, on_hi, color="#cccccc", alpha=0.35, lw=0)
    ax.axvspan(pk_lo, pk_hi, color="#88cc88", alpha=0.25, lw=0)
    marks: list[Any] = [Patch(color="#cccccc", alpha=0.6, label=f"first change (days {on_lo}-{on_hi})"),
                        Patch(color="#88cc88", alpha=0.5, label=f"full effect (days {pk_lo}-{pk_hi})")]
    if any(c.session == "initial" and c.start_day == 0 for c in curves):
        tu = float(tl["touch_up_day"])
        ax.axvline(tu, color="#444444", ls="--", lw=1)
        marks.append(Line2D([], [], color="#444444", ls="--", lw=1,
                            label=f"two-week review (touch-up if needed), day {tu:g}"))
    for c in curves:
        low, mid, high = tl_mod.effect_band(c.group, days, c.start_day)
        colour = tl_mod.GROUP_COLOURS[c.group]
        day = f" (day {c.start_day:g})" if c.start_day else ""
        label = c.title if c.session == "initial" else f"{c.title}: {c.session.replace('_', '-')}{day}"
        ls = "-" if c.session == "initial" else ":"
        ax.fill_between(days, low, high, color=colour, alpha=0.18 if c.session == "initial" else 0.1, lw=0)
        ax.plot(days, mid, color=colour, ls=ls, lw=2, label=label)
    ax.set_xlim(0, days_max)
    ax.set_ylim(0, 1.08)
    ax.set_yticks([0, 0.5, 1.0])
    ax.set_yticklabels(["none", "half", "full"])
    ticks = [0, 14, 30, 60, 90, 120, 150, 180, 210, 240]
    ax.set_xticks([t for t in ticks if t <= days_max])
    ax.tick_params(labelsize=pt["ticks"])
    ax.set_xlabel("days after the treatment (30 days is about 1 month)", fontsize=pt["axis"])
    ax.set_ylabel("expected effect", fontsize=pt["axis"])
    if title:
        ax.set_title("Expected effect over time: the shaded band is the usual range, not a promise",
                     fontsize=pt["title"])
    lines, names = ax.get_legend_handles_labels()
    # under the plot: the bands first, then the marks; one column on a narrow screen figure, two in print
    ax.legend([*lines, *marks], [*names, *(m.get_label() for m in marks)], loc="upper center",
              bbox_to_anchor=(0.5, -0.17 if text_pt else -0.2), ncols=1 if text_pt else 2, fontsize=pt["legend"],
              frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


# ------------------------------------------------------------------------------ labelled chart views
#: the chart's label font (DejaVu from the system, Pillow's own font when it is missing)
_FONT_FILES = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "DejaVuSans.ttf")
_FONT_BOLD_FILES = ("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", "DejaVuSans-Bold.ttf")


@dataclass(frozen=True)
class Label:
    """A label to place beside a picture: the anchor (pixels of the render), its text and colour.

    ``kind`` is ``"point"`` (a dot is drawn at the anchor, the box is framed in ``colour``) or
    ``"structure"`` (grey italic-like text, a dashed leader).
    """

    x: float
    y: float
    text: str
    colour: str = "#333333"
    kind: str = "point"


def _font(size: int, bold: bool = False) -> Any:
    from PIL import ImageFont

    for f in _FONT_BOLD_FILES if bold else _FONT_FILES:
        try:
            return ImageFont.truetype(f, size)
        except OSError:
            continue
    return ImageFont.load_default(size)


def layout_column(wanted: Sequence[float], height: float, top: float, bottom: float) -> list[float]:
    """Label centres as near the wanted heights as possible, at least ``height`` apart, within [top, bottom].

    A forward pass pushes labels down, a backward pass pushes them up from the bottom; when the column is
    too short the labels run past ``bottom`` (the caller grows the canvas).
    """
    order = sorted(range(len(wanted)), key=lambda i: wanted[i])
    ys = [max(top + height / 2, float(wanted[i])) for i in order]
    for k in range(1, len(ys)):
        ys[k] = max(ys[k], ys[k - 1] + height)
    if ys and ys[-1] > bottom - height / 2:
        ys[-1] = max(bottom - height / 2, top + height / 2 + (len(ys) - 1) * height)
        for k in range(len(ys) - 2, -1, -1):
            ys[k] = min(ys[k], ys[k + 1] - height)
    out = [0.0] * len(wanted)
    for k, i in enumerate(order):
        out[i] = ys[k]
    return out


def _dashed(draw: Any, a: tuple[float, float], b: tuple[float, float], fill: str, width: int, dash: float) -> None:
    (x0, y0), (x1, y1) = a, b
    n = max(1, int(np.hypot(x1 - x0, y1 - y0) / dash))
    for k in range(0, n, 2):
        t0, t1 = k / n, min(1.0, (k + 1) / n)
        draw.line([(x0 + (x1 - x0) * t0, y0 + (y1 - y0) * t0), (x0 + (x1 - x0) * t1, y0 + (y1 - y0) * t1)],
                  fill=fill, width=width)


def _content_columns(arr: np.ndarray, pad: int = 20) -> tuple[int, int]:
    """The columns that hold more than the background (the top-left pixel's colour), padded."""
    diff = np.abs(arr.astype(np.int16) - arr[0, 0].astype(np.int16)).sum(axis=-1) > 24
    cols = np.flatnonzero(diff.any(axis=0))
    if cols.size == 0:
        return 0, arr.shape[1]
    return max(0, int(cols[0]) - pad), min(arr.shape[1], int(cols[-1]) + 1 + pad)


@dataclass(frozen=True)
class PlacedLabel:
    """A label placed on the canvas: ``label`` (its anchor in canvas pixels), the text's left edge
    ``x_text`` and centre ``y``, its width, and the end of its leader at the picture's edge."""

    label: Label
    x_text: float
    y: float
    width: float
    edge: tuple[float, float]


@dataclass(frozen=True)
class LabelledView:
    """A cropped render and its label layout: the canvas size, where the render sits on it, the labels.

    :meth:`render` draws it as one image (HTML); the PDF draws the same layout as vector text and lines.
    """

    image: Any
    canvas: tuple[int, int]
    offset: tuple[int, int]
    placed: tuple[PlacedLabel, ...]
    font_px: int
    line_h: float

    def render(self) -> Any:
        """The labelled picture (PIL image)."""
        from PIL import Image, ImageDraw

        canvas = Image.new("RGB", self.canvas, "white")
        canvas.paste(self.image, self.offset)
        draw = ImageDraw.Draw(canvas)
        font, bold = _font(self.font_px), _font(self.font_px, bold=True)
        for p in self.placed:
            lab, y = p.label, p.y
            if lab.kind == "point":
                draw.line([p.edge, (lab.x, lab.y)], fill="#222222", width=2)
                draw.rounded_rectangle([p.x_text - 5, y - self.line_h / 2 + 2, p.x_text + p.width + 5,
                                        y + self.line_h / 2 - 2], radius=4, fill="white", outline=lab.colour, width=3)
                r = max(4, self.font_px // 4)
                draw.ellipse([lab.x - r, lab.y - r, lab.x + r, lab.y + r], fill=lab.colour, outline="black", width=2)
            else:
                _dashed(draw, p.edge, (lab.x, lab.y), "#555555", 2, 7.0)
            draw.text((p.x_text, y), lab.text, fill="#111111" if lab.kind == "point" else "#444444",
                      font=bold if lab.kind == "point" else font, anchor="lm")
        return canvas


def label_view(image: Any, labels: Sequence[Label], font_px: int = 22) -> LabelledView:
    """Crop the render to the head and lay its labels out in a margin on each side, each joined to its
    anchor by a leader; labels never overlap (one column per side, :func:`layout_column`).

    Parameters
    ----------
    image : numpy array or PIL image
        The render (RGB); its background is the colour of its top-left pixel.
    labels : list of Label
        Anchors in the render's pixels.
    """
    from PIL import Image, ImageDraw

    arr = np.asarray(image.convert("RGB") if isinstance(image, Image.Image) else image)[..., :3]
    x0, x1 = _content_columns(arr)
    img = Image.fromarray(np.ascontiguousarray(arr[:, x0:x1]))
    w, h = img.size
    line_h = font_px * 1.45
    font, bold = _font(font_px), _font(font_px, bold=True)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    widths = [float(probe.textlength(lab.text, font=bold if lab.kind == "point" else font)) for lab in labels]
    margin = int(max(widths + [60.0]) + 30)
    sides: dict[str, list[int]] = {"l": [], "r": []}
    for i, lab in enumerate(labels):
        sides["l" if lab.x - x0 < w / 2 else "r"].append(i)
    height = int(max(h, max(len(v) for v in sides.values()) * line_h + 2 * line_h))
    dy = (height - h) // 2
    placed = []
    for side, idx in sides.items():
        ys = layout_column([labels[i].y + dy for i in idx], line_h, line_h / 2, height - line_h / 2)
        for i, y in zip(idx, ys, strict=True):
            lab = labels[i]
            anchor = Label(lab.x - x0 + margin, lab.y + dy, lab.text, lab.colour, lab.kind)
            x_text = margin - 12 - widths[i] if side == "l" else w + margin + 12
            edge = (margin - 6.0, y) if side == "l" else (w + margin + 6.0, y)
            placed.append(PlacedLabel(anchor, x_text, y, widths[i], edge))
    return LabelledView(img, (w + 2 * margin, height), (margin, dy), tuple(placed), font_px, line_h)


def labelled_picture(image: Any, labels: Sequence[Label], font_px: int = 22) -> Any:
    """:func:`label_view` drawn as one PIL image."""
    return label_view(image, labels, font_px).render()


def legend_items(severity_colours: Mapping[str, str], structure_colours: Mapping[str, str]) -> list[tuple[str, str]]:
    """(colour, meaning) rows of the chart's colour legend: the dot colours, then the structure colours."""
    words = {"ok": "no caution (info at most)", "caution": "caution: a finding to review",
             "danger": "danger: a finding to act on"}
    rows = [(c, f"Dot: {words.get(k, k)}") for k, c in severity_colours.items()]
    rows += [(c, name) for name, c in structure_colours.items()]
    return rows
