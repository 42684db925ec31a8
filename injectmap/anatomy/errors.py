"""The mark of an error raised on purpose with a message written for the person using the program.

The app shows such an error's message (it says what is wrong and what to do, and quotes no internal state);
any other exception is a fault of the program: the app shows a plain sentence instead and logs only the
exception's type (its text may quote a plan, a patient or a file). ``injectmap.viewer.text.error_words``
decides with :class:`UserFacing`.

>>> class PlanError(UserFacing, ValueError):
...     pass
>>> isinstance(PlanError("depth_mm: must be between 0 and 40"), UserFacing)
True
>>> isinstance(ValueError("invalid literal for int()"), UserFacing)
False
"""

from __future__ import annotations

__all__ = ["UserFacing"]


class UserFacing:
    """Mixed into an exception class whose messages are for the user (first base: ``class E(UserFacing, ValueError)``)."""
