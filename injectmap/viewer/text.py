"""User text shown in the app: data, never markup.

Panel's Markdown and Alert panes render Markdown with raw HTML passed through, so any text that a plan,
a file name, an error message quoting a plan's value or a form brings is escaped before it reaches a
pane: HTML's special characters become entities and Markdown's punctuation is backslash-escaped, so
``<img src=x onerror=...>`` shows as those characters and never becomes an element.
"""

from __future__ import annotations

import html
import re

__all__ = ["plain"]

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
