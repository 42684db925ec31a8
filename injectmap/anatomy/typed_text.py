"""Numbers typed by a person in a text field, read the same way wherever a field takes one.

:func:`typed_decimal` reads a decimal number written with a decimal point or a decimal comma (``62.5``,
``62,5``): the measured interpupillary distance (``anatomy.fit.photo.checked_ipd``, mm, 2 decimals) and a
visit's dilution (the Patient card, mL, 3 decimals). It lives in the lowest layer so that both may import it
(cli > viewer > reports > clinic > teaching > planning > anatomy).
"""

from __future__ import annotations

import re

__all__ = ["typed_decimal"]

#: at most this many digits before the decimal separator (a distance in mm, a volume in mL: never 1000 or more)
MAX_DIGITS = 3


def typed_decimal(text: str, decimals: int) -> float | None:
    """``text`` (spaces around it ignored) as a number: 1 to :data:`MAX_DIGITS` digits, then optionally a decimal
    point or comma and 1 to ``decimals`` digits; None for empty text. ``float`` alone would also take ``6_2``,
    ``1e2``, ``nan``, ``-1`` or ``+1``, and would read ``62,5`` as nothing.

    >>> typed_decimal(" 62,5 ", 2), typed_decimal("2.125", 3), typed_decimal("", 2)
    (62.5, 2.125, None)

    Raises
    ------
    ValueError
        Anything else (a sign, an exponent, a second separator, more decimals than ``decimals``).
    """
    text = text.strip()
    if not text:
        return None
    if not re.fullmatch(rf"\d{{1,{MAX_DIGITS}}}(?:[.,]\d{{1,{int(decimals)}}})?", text):
        raise ValueError(f"{text[:20]!r} is not a decimal number with at most {int(decimals)} decimals")
    return float(text.replace(",", "."))
