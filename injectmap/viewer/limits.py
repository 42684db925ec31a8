"""The server's limits (plan size, upload size, login throttling, password hashing), read from
``server_limits.json`` through one pydantic model; every number there carries its reason or source.

Four limits can be changed for one deployment by environment variables (documented in
docs/deploying.md): ``INJECTMAP_MAX_PLAN_POINTS``, ``INJECTMAP_MAX_UPLOAD_BYTES``,
``INJECTMAP_MAX_PHOTO_BYTES`` (a patient's photo in the Face card) and ``INJECTMAP_MAX_SCAN_BYTES`` (a 3D scan
there).
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

LIMITS_FILE = Path(__file__).with_name("server_limits.json")
#: environment variables that override a limit for one deployment
ENV_OVERRIDES = {"max_plan_points": "INJECTMAP_MAX_PLAN_POINTS", "max_upload_bytes": "INJECTMAP_MAX_UPLOAD_BYTES",
                 "max_photo_bytes": "INJECTMAP_MAX_PHOTO_BYTES", "max_scan_bytes": "INJECTMAP_MAX_SCAN_BYTES"}


class Limit(BaseModel):
    """One number and why it has that value."""

    model_config = ConfigDict(extra="forbid")
    value: float = Field(gt=0)
    why: str = Field(min_length=10)


class ServerLimits(BaseModel):
    """The file ``server_limits.json``."""

    model_config = ConfigDict(extra="forbid")
    format: Literal["injectmap-server-limits"]
    version: Literal[1]
    max_plan_points: Limit
    max_upload_bytes: Limit
    max_photo_bytes: Limit
    max_scan_bytes: Limit
    websocket_max_message_bytes: Limit
    closed_session_check_s: Limit
    unconnected_session_lifetime_s: Limit
    analysis_threads: Limit
    progress_interval_s: Limit
    login_max_failures: Limit
    login_ip_max_failures: Limit
    login_window_s: Limit
    login_lockout_s: Limit
    login_failure_delay_s: Limit
    login_session_hours: Limit
    scrypt_log2_n: Limit
    scrypt_r: Limit
    scrypt_p: Limit


@functools.cache
def _file_limits() -> ServerLimits:
    return ServerLimits.model_validate(json.loads(LIMITS_FILE.read_text(encoding="utf-8")))


def limit(name: str) -> float:
    """The value of a limit, from its environment variable when set (a positive number), else the file.

    Raises
    ------
    ValueError
        When the environment variable is set but is not a positive number.
    """
    env = ENV_OVERRIDES.get(name)
    raw = os.environ.get(env) if env else None
    if raw:
        try:
            value = float(raw)
        except ValueError:
            value = -1.0
        if value <= 0:
            raise ValueError(f"{env} must be a positive number, not {raw!r}")
        return value
    return getattr(_file_limits(), name).value


def int_limit(name: str) -> int:
    """:func:`limit` as a whole number."""
    return int(limit(name))
