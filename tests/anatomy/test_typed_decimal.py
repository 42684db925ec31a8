"""One reading of a decimal number typed in a text field, with a decimal point or a decimal comma, for the visit's
dilution (viewer, mL) and the patient's interpupillary distance (anatomy.fit.photo, mm): each field had a regular
expression of its own, alike but for the decimals they allow."""

from __future__ import annotations

import pytest

from injectmap.anatomy.typed_text import typed_decimal


@pytest.mark.parametrize("text, decimals, value", [("62.5", 2, 62.5), (" 62,5 ", 2, 62.5), ("63", 2, 63.0),
                                                   ("62,55", 2, 62.55), ("2,5", 3, 2.5), ("0,125", 3, 0.125),
                                                   ("100", 3, 100.0), ("007", 1, 7.0)])
def test_a_decimal_with_a_point_or_a_comma_is_read(text: str, decimals: int, value: float) -> None:
    assert typed_decimal(text, decimals) == pytest.approx(value)


@pytest.mark.parametrize("text", ["", "   ", "\t"])
def test_an_empty_field_is_none(text: str) -> None:
    assert typed_decimal(text, 2) is None


@pytest.mark.parametrize("text, decimals", [("62,555", 2), ("0,1255", 3), ("1000", 3), ("6,2,5", 2), ("2.5.1", 3),
                                            ("-1", 3), ("+1", 3), ("6_2", 2), ("1e2", 2), ("nan", 2), ("inf", 2),
                                            ("63 mm", 2), (",5", 2), ("5,", 2), ("5.", 2), ("6 2", 2)])
def test_anything_else_is_refused(text: str, decimals: int) -> None:
    with pytest.raises(ValueError, match="not a decimal number"):
        typed_decimal(text, decimals)


def test_both_fields_take_what_it_takes_and_refuse_the_rest() -> None:
    """The distance (2 decimals, then its adult range) and the dilution (3 decimals) read their text as it does."""
    from injectmap.anatomy.fit.landmarks import FitRefused
    from injectmap.anatomy.fit.photo import checked_ipd
    from injectmap.viewer.patient_panel import _optional_ml

    for text in ("62.5", " 62,5 ", "62,55", "62,555", "6_2", "1e2", "nan", "-62", "62 mm", "62,", "2,5", "0,125",
                 "2.5.1", "1000", ""):
        try:
            mm = typed_decimal(text, 2)
        except ValueError:
            with pytest.raises(FitRefused, match="not a number of millimetres"):
                checked_ipd(text)
        else:
            if mm is None or 45 <= mm <= 80:
                assert checked_ipd(text) == mm, text
        try:
            ml = typed_decimal(text, 3)
        except ValueError:
            with pytest.raises(ValueError, match="the dilution is not a number of mL"):
                _optional_ml(text, "the dilution")
        else:
            assert _optional_ml(text, "the dilution") == ml, text
