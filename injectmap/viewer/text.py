"""User text shown in the app: data, never markup.

Panel's Markdown and Alert panes render Markdown with raw HTML passed through, so any text that a plan,
a file name, an error message quoting a plan's value or a form brings is escaped before it reaches a
pane: HTML's special characters become entities and Markdown's punctuation is backslash-escaped, so
``<img src=x onerror=...>`` shows as those characters and never becomes an element.
"""

from __future__ import annotations

import html
import logging
import re
import traceback

from injectmap.anatomy.errors import UserFacing

__all__ = ["UNEXPECTED", "error_words", "log_unexpected", "plain"]

#: what the app says of an exception that was not raised for the user: a fault of the program, whose text may
#: quote the code, a plan, a patient or a file
UNEXPECTED = ("an unexpected error inside the program (its kind is in the server's log); try again, and tell the "
              "administrator if it happens again")

#: Markdown's punctuation that can make a link or an image (a fetch), code, emphasis, a heading or a table
_MARKDOWN = re.compile(r"([\\`*_\[\]()#!|~])")


def plain(text: object) -> str:
    """``text`` as Markdown that shows exactly those characters (no HTML, no formatting).

    >>> plain("<img src=x onerror=alert(1)>")
    '&lt;img src=x onerror=alert\\\\(1\\\\)&gt;'
    >>> plain("![x](http://example.org/a.png) Ana M.")
    '\\\\!\\\\[x\\\\]\\\\(http://example.org/a.png\\\\) Ana M.'
    """
    escaped = html.escape(str(text), quote=False)
    return _MARKDOWN.sub(r"\\\1", escaped)


def mm_text(value: float | None) -> str:
    """A distance in mm as a text field shows it (empty for none): the measured interpupillary distance's fields."""
    return "" if value is None else f"{value:g}"


def error_words(exc: BaseException) -> str:
    """What a card shows of an exception: the message of an error raised on purpose for the user
    (:class:`anatomy.errors.UserFacing`: a plan error, a photo refused...), else :data:`UNEXPECTED`, never the
    exception's own text. Shown through :func:`plain` like any other text.

    >>> error_words(AttributeError("module 'x' has no attribute 'y'")) == UNEXPECTED
    True
    """
    text = str(exc) if isinstance(exc, UserFacing) else ""
    return text or UNEXPECTED


def log_unexpected(log: logging.Logger, what: str, exc: BaseException) -> None:
    """Log that ``what`` failed with the exception's type and where it was raised (file and line of the program),
    never its text (it may quote a plan, a patient or a file)."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else ""
    log.warning("%s failed: %s%s", what, type(exc).__name__, where)
