"""Where the patient records live and the limits of their fields.

- :func:`database_url`: ``--database-url``, else ``$INJECTMAP_DATABASE_URL``, else a SQLite file in the
  user's data folder (platformdirs, ``~/.local/share/injectmap/records/records.sqlite3`` on Linux).
- :func:`photos_folder`: ``$INJECTMAP_PHOTOS_DIR``, else ``photos/`` beside the SQLite file, else (a
  server database) ``photos/`` in the user's data folder.
- :func:`faces_folder`: ``$INJECTMAP_FACES_DIR``, else ``faces/`` in the user's data folder; each user's
  own faces folder in it is :func:`user_faces_dir` (named by a hash of the user name).
- :func:`database_fingerprint`: a short hash naming the database (never its password), which the app's
  autosaves record so that a patient's deletion matches them by identifier only in their own database.
- :func:`limits`: the lengths and sizes of ``clinic/data/records.yaml``, read through one pydantic model.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, PositiveInt

from injectmap.anatomy.datamodel import DataModel
from injectmap.planning.datafiles import load_model

__all__ = ["DATABASE_URL_ENV", "FACES_DIR_ENV", "PHOTOS_DIR_ENV", "PhotoType", "RecordsLimits", "data_folder",
           "database_fingerprint", "database_url", "default_sqlite_path", "faces_folder", "limits", "photos_folder",
           "user_faces_dir"]

DATABASE_URL_ENV = "INJECTMAP_DATABASE_URL"
PHOTOS_DIR_ENV = "INJECTMAP_PHOTOS_DIR"
FACES_DIR_ENV = "INJECTMAP_FACES_DIR"
SQLITE_NAME = "records.sqlite3"


class PhotoType(DataModel):
    """A photo format accepted: its media type, the suffix of the stored file, its signature (hex)."""

    media_type: str
    suffix: str = Field(pattern=r"^\.[a-z0-9]{1,8}$")
    signature: str = Field(pattern=r"^([0-9a-f]{2})+$")


class RecordsLimits(DataModel):
    """clinic/data/records.yaml: the bounds of the records' fields (each a project choice, see the file)."""

    identifier_max: PositiveInt
    name_max: PositiveInt
    notes_max: PositiveInt
    lot_max: PositiveInt
    side_effect_max: PositiveInt
    side_effects_max_count: PositiveInt
    photo_max_bytes: PositiveInt
    photo_types: tuple[PhotoType, ...] = Field(min_length=1)
    sqlite_busy_timeout_s: float = Field(gt=0)


def limits() -> RecordsLimits:
    """The limits of clinic/data/records.yaml (validated, cached)."""
    return load_model("records.yaml", RecordsLimits, package="injectmap.clinic")


def data_folder() -> Path:
    """The user's data folder of the records (platformdirs; not created here)."""
    from platformdirs import user_data_path

    return user_data_path("injectmap", appauthor=False) / "records"


def default_sqlite_path() -> Path:
    """The default database file: ``records.sqlite3`` in :func:`data_folder`."""
    return data_folder() / SQLITE_NAME


def database_url(url: str | None = None) -> str:
    """The database URL: ``url`` if given, else ``$INJECTMAP_DATABASE_URL``, else the default SQLite file."""
    if url:
        return url
    env = os.environ.get(DATABASE_URL_ENV)
    if env:
        return env
    return "sqlite:///" + str(default_sqlite_path())


def database_fingerprint(url: str | None = None) -> str | None:
    """16 hex digits naming the database of ``url`` (:func:`database_url` decides when None): the sha256 of its
    backend, host, port and database (a SQLite file's absolute path), never its user, password or options.

    An autosaved plan names a patient by identifier, which is unique only within one database: the app's
    autosaves record this (``viewer.session``), and a patient's deletion matches them by identifier only
    when it agrees. None for a URL that cannot be read or an in-memory database (no other process shares it).
    """
    import hashlib

    from sqlalchemy.engine import make_url

    try:
        u = make_url(database_url(url))
        backend, database = u.get_backend_name(), u.database or ""
        if backend == "sqlite":
            if not database or database == ":memory:" or database.startswith("file:"):
                return None
            database = str(Path(os.path.abspath(database)).resolve())
        text = f"{backend}://{u.host or ''}:{u.port or ''}/{database}"
    except Exception:  # noqa: BLE001 - an unreadable URL names no database (the records cannot open it either)
        return None
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def photos_folder(sqlite_path: Path | None = None) -> Path:
    """Where photo files go: ``$INJECTMAP_PHOTOS_DIR``, else ``photos/`` beside the SQLite file, else
    ``photos/`` in :func:`data_folder` (a server database keeps its photos on the machine running injectmap)."""
    env = os.environ.get(PHOTOS_DIR_ENV)
    if env:
        return Path(env)
    if sqlite_path is not None:
        return sqlite_path.parent / "photos"
    return data_folder() / "photos"


def faces_folder() -> Path:
    """Where the users' faces folders are: ``$INJECTMAP_FACES_DIR``, else ``faces/`` beside the records'
    data folder (``~/.local/share/injectmap/faces`` on Linux)."""
    env = os.environ.get(FACES_DIR_ENV)
    if env:
        return Path(env)
    return data_folder().parent / "faces"


def user_faces_dir(folder: Path, user: str) -> Path:
    """A user's faces folder in ``folder``: a subfolder named by a hash of the user name (the name is not
    on disk), where a visit's fitted face is written back when the visit is opened."""
    import hashlib

    return Path(folder) / ("u" + hashlib.sha256(user.encode("utf-8")).hexdigest()[:16])
