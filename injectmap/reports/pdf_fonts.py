"""The one font set-up of every PDF the project writes (the chart, its photo page and stills, the handout).

fpdf2's core Helvetica is Latin-1 only: a patient named "Łucja Wałęsa 王芳" printed as "?ucja Wa??sa ??".
:func:`use_fonts` embeds DejaVu Sans (regular, bold, oblique, bold oblique) from matplotlib's own
``mpl-data/fonts/ttf`` (a dependency: nothing is downloaded, no system package needed); fpdf2 embeds
only the glyphs a document uses. Text in a script DejaVu lacks (Chinese, Japanese, Korean...) is written
with the fonts named by ``$INJECTMAP_PDF_FONTS`` (TrueType or OpenType files, separated by ``os.pathsep``;
e.g. a clinic's ``NotoSansCJK-Regular.ttc`` or ``wqy-zenhei.ttc``), and a character none of them has with
the Last Resort font also shipped by matplotlib: a box naming the character's Unicode block, the character
itself kept in the PDF's text (copied, searched and read by a screen reader as it was typed). The extra
fonts and Last Resort are added to a document only when its text needs them (reading Last Resort takes
about 1.4 s).

User text stays data: it is written through fpdf2's text cells (never markup), as before.

Example
-------
>>> from fpdf import FPDF                                    # doctest: +SKIP
>>> pdf = FPDF(); text = use_fonts(pdf); pdf.add_page()     # doctest: +SKIP
>>> pdf.set_font(FAMILY, "B", 12); pdf.cell(0, 6, text("Łucja Wałęsa"))   # doctest: +SKIP
"""

from __future__ import annotations

import importlib.util
import logging
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = ["FAMILY", "FONTS_ENV", "PdfText", "extra_font_files", "font_dir", "use_fonts"]

log = logging.getLogger("injectmap.reports")

#: the family every PDF text is set in
FAMILY = "DejaVu"
#: the environment variable naming extra fonts for scripts DejaVu Sans lacks
FONTS_ENV = "INJECTMAP_PDF_FONTS"
_STYLES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf", "I": "DejaVuSans-Oblique.ttf",
           "BI": "DejaVuSans-BoldOblique.ttf"}
_LAST_RESORT = "LastResortHE-Regular.ttf"
_LAST_RESORT_FAMILY = "LastResort"
#: characters fpdf2 lays out itself (line breaks) or that no font draws
_LAYOUT = frozenset(range(0x20)) | {0x7F}


def font_dir() -> Path:
    """matplotlib's ``mpl-data/fonts/ttf`` (matplotlib.get_data_path()'s, found without importing matplotlib)."""
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("matplotlib is not installed: its DejaVu Sans fonts are the PDFs' fonts")
    return Path(next(iter(spec.submodule_search_locations))) / "mpl-data" / "fonts" / "ttf"


def extra_font_files() -> list[Path]:
    """The font files ``$INJECTMAP_PDF_FONTS`` names that exist (a missing one is logged and left out)."""
    out = []
    for part in os.environ.get(FONTS_ENV, "").split(os.pathsep):
        if not part.strip():
            continue
        p = Path(part.strip()).expanduser()
        if p.is_file():
            out.append(p)
        else:
            log.warning("%s names %s, which is not a file: left out", FONTS_ENV, p)
    return out


@lru_cache(maxsize=32)
def _coverage(path: str) -> frozenset[int]:
    """The code points a font file maps (the first font of a collection)."""
    from fontTools.ttLib import TTFont

    with TTFont(path, lazy=True, fontNumber=0) as f:
        return frozenset(f.getBestCmap() or {})


@lru_cache(maxsize=1)
def _dejavu_coverage() -> frozenset[int]:
    """The code points all four DejaVu Sans styles have."""
    sets = [_coverage(str(font_dir() / name)) for name in _STYLES.values()]
    return frozenset.intersection(*sets)


class PdfText:
    """A document's text filter: ``str`` of a value (``""`` for None). The first text with a character DejaVu
    Sans lacks adds the extra fonts of ``$INJECTMAP_PDF_FONTS`` to the document as fallbacks, and the first
    with a character none of those has adds Last Resort: a document of Latin text reads no other font."""

    def __init__(self, pdf: Any) -> None:
        self.pdf = pdf
        self.covered = _dejavu_coverage()
        self.fallbacks: list[str] = []
        self.extras_added = self.last_resort = False

    def _missing(self, text: str) -> bool:
        return not text.isascii() and any(ord(c) not in self.covered and ord(c) not in _LAYOUT for c in text)

    def _add_extras(self) -> None:
        self.extras_added = True
        for i, path in enumerate(extra_font_files()):
            family = f"Extra{i}"
            try:
                self.pdf.add_font(family, "", str(path))
                self.covered = self.covered | _coverage(str(path))
            except Exception as exc:  # noqa: BLE001 - a font fpdf2 cannot read is left out; the PDF is still made
                log.warning("%s: %s cannot be used (%s): left out", FONTS_ENV, path, type(exc).__name__)
                continue
            self.fallbacks.append(family)

    def __call__(self, value: Any) -> str:
        text = "" if value is None else str(value)
        if self.last_resort or not self._missing(text):
            return text
        if not self.extras_added:
            self._add_extras()
        if self._missing(text):
            self.pdf.add_font(_LAST_RESORT_FAMILY, "", str(font_dir() / _LAST_RESORT))
            self.fallbacks.append(_LAST_RESORT_FAMILY)
            self.last_resort = True
        if self.fallbacks:
            self.pdf.set_fallback_fonts(self.fallbacks, exact_match=False)
        return text


def use_fonts(pdf: Any) -> PdfText:
    """Add DejaVu Sans (four styles, :data:`FAMILY`) to an fpdf2 document, select it, and return the
    document's text filter (:class:`PdfText`: every text the document writes goes through it)."""
    d = font_dir()
    for style, name in _STYLES.items():
        pdf.add_font(FAMILY, style, str(d / name))
    pdf.set_font(FAMILY, "", 9)
    return PdfText(pdf)
