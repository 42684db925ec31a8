"""The built-face cache on disk: a signed manifest of file hashes, its check, and a disk budget.

A cached face is one folder (``cache_root()/<face name>``) of ``.vtp`` meshes, ``arrays.npz`` and
``manifest.json``. The manifest lists every file with its size and SHA-256, the build inputs' hash and
the cache format's version, and carries ``manifest_sha256``: the SHA-256 of its own canonical JSON
(every other key). :func:`verify_folder` accepts a folder only when the manifest's own hash, its
format, its inputs and every file (no file missing, none unexpected, none changed) match; anything
else raises :class:`CacheError` with the reason, so the face is rebuilt (or refused), never read from
a damaged copy. VTK reads a file only after its hash matched, and any error VTK still reports while
reading is a :class:`CacheError` too (:func:`read_mesh`), never only a line on the terminal.

The disk budget (``data/face_cache.yaml``) is kept by :func:`prune`: the least recently used variant
folders (a folder's modification time, touched on every load: :func:`touch`) are deleted beyond it;
the default face and the face just used are kept. Only folders that look like cached faces (a face
name, nothing but cache files) are ever deleted.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import sys
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyvista as pv

from injectmap.anatomy.basehead import file_sha256

#: the manifest's ``format`` and ``format_version``: a folder of another version is rebuilt
FORMAT = "injectmap-meshes"
FORMAT_VERSION = 2
MANIFEST = "manifest.json"
#: a manifest larger than this is not a manifest (a landmark table and ~80 file entries take ~30 kB)
MAX_MANIFEST_BYTES = 4_000_000
#: the name of a cached face's folder (``FaceParams.name``): ``default`` or ``sex0.50-masseter+1.00``
FACE_FOLDER = re.compile(r"^(default|sex[01]\.\d\d(-(masseter|brow_left|brow_right)[+-][01]\.\d\d)*)(-fit-[0-9a-f]{16})?$")
#: the only kinds of file a cached face's folder holds (besides hidden ``.tmp`` / ``.lock`` files)
CACHE_SUFFIXES = (".vtp", ".npz", ".json")


class CacheError(Exception):
    """A cached face that must not be used: the reason says what is missing, unexpected or damaged."""


def canonical(obj: Any) -> bytes:
    """The canonical JSON bytes that ``manifest_sha256`` is computed over (sorted keys, no spaces)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode()


def sign(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest with its format version and ``manifest_sha256`` (over every other key) added."""
    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    body["format"] = FORMAT
    body["format_version"] = FORMAT_VERSION
    return {**body, "manifest_sha256": hashlib.sha256(canonical(body)).hexdigest()}


def file_entry(path: Path) -> dict[str, Any]:
    """A manifest's record of a written file: its size and SHA-256."""
    return {"bytes": path.stat().st_size, "sha256": file_sha256(path)}


def load_manifest(folder: Path) -> dict[str, Any]:
    """The parsed ``manifest.json`` of a face's folder (not yet checked: :func:`verify_folder` does)."""
    path = folder / MANIFEST
    if not path.is_file():
        raise CacheError(f"{MANIFEST} is missing")
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        raise CacheError(f"{MANIFEST} is too large ({path.stat().st_size} bytes)")
    try:
        man = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise CacheError(f"{MANIFEST} is not valid JSON ({exc})") from None
    if not isinstance(man, dict):
        raise CacheError(f"{MANIFEST} is not a JSON object")
    return man


def verify_folder(folder: Path, inputs_sha256: str, structure_ids: Iterable[str]) -> dict[str, Any]:
    """Check a cached face's folder completely before anything in it is read.

    Parameters
    ----------
    folder : Path
        The face's cache folder.
    inputs_sha256 : str
        The hash of the build inputs of the face asked for (``model.inputs_sha256``).
    structure_ids : iterable of str
        Every structure the face must have (each ``<id>.vtp``, and no other structure).

    Returns
    -------
    dict
        The manifest, checked.

    Raises
    ------
    CacheError
        Naming the first problem: the manifest missing, unreadable, of another format or version,
        altered (its own hash), made from other inputs (stale), or a file missing, unexpected, of
        another size or hash.
    """
    man = load_manifest(folder)
    _check_header(man, inputs_sha256)
    files = man.get("files")
    entries = man.get("structures")
    if not isinstance(files, dict) or not isinstance(entries, list):
        raise CacheError(f"{MANIFEST} lacks its file list or its structure list")
    want = set(structure_ids)
    have = [e.get("id") for e in entries if isinstance(e, dict)]
    if len(have) != len(entries) or len(set(have)) != len(have) or set(have) != want:
        missing, extra = sorted(want - set(have)), sorted(str(h) for h in set(have) - want)
        raise CacheError(f"{MANIFEST} lists other structures than the face has (missing {missing}, unexpected {extra})")
    for e in entries:
        if e.get("file") != f"{e['id']}.vtp" or e["file"] not in files:
            raise CacheError(f"{MANIFEST}: structure {e['id']!r} has no hashed file of its own")
    needed = {"arrays.npz", "eye_left.vtp", "eye_right.vtp"} | {f"{i}.vtp" for i in want}
    if set(files) != needed:
        raise CacheError(f"{MANIFEST} lists other files than a face has "
                         f"(missing {sorted(needed - set(files))}, unexpected {sorted(set(files) - needed)})")
    present = {p.name for p in folder.iterdir() if not p.name.startswith(".")}
    unexpected = sorted(present - needed - {MANIFEST})
    if unexpected:
        raise CacheError(f"unexpected files in the folder: {unexpected[:5]}")
    for name in sorted(needed):
        _check_file(folder / name, files[name])
    return man


def _check_header(man: dict[str, Any], inputs_sha256: str) -> None:
    """The manifest's format and version, its own hash, and the inputs it was built from."""
    if man.get("format") == FORMAT and man.get("format_version") in (None, 1):
        raise CacheError(f"stale: {MANIFEST} is of an older cache format (version 1, without file hashes)")
    if man.get("format") != FORMAT or man.get("format_version") != FORMAT_VERSION:
        raise CacheError(f"{MANIFEST} is of format {man.get('format')!r} version {man.get('format_version')!r}, "
                         f"not {FORMAT!r} version {FORMAT_VERSION}")
    body = {k: v for k, v in man.items() if k != "manifest_sha256"}
    try:
        own = hashlib.sha256(canonical(body)).hexdigest()
    except ValueError as exc:
        raise CacheError(f"{MANIFEST} holds a value that is not JSON ({exc})") from None
    if man.get("manifest_sha256") != own:
        raise CacheError(f"{MANIFEST} was altered (its content does not match its manifest_sha256)")
    if man.get("inputs_sha256") != inputs_sha256:
        raise CacheError("stale: the face was built from other inputs (builder, data files or base mesh changed)")


def _check_file(path: Path, entry: Any) -> None:
    if not isinstance(entry, dict):
        raise CacheError(f"{MANIFEST}: the entry of {path.name} is not an object")
    if not path.is_file():
        raise CacheError(f"{path.name} is missing")
    size = path.stat().st_size
    if size != entry.get("bytes"):
        raise CacheError(f"{path.name} has {size} bytes, the manifest says {entry.get('bytes')} (truncated or replaced)")
    if file_sha256(path) != entry.get("sha256"):
        raise CacheError(f"{path.name} does not match its SHA-256 in the manifest (damaged or replaced)")


#: VTK's output window is one per process: one reader swaps it at a time
_VTK_OUTPUT = threading.Lock()


def read_mesh(path: Path) -> pv.PolyData:
    """Read a ``.vtp``; any error or warning VTK reports while reading raises :class:`CacheError`
    (VTK's own log to the terminal is switched off meanwhile, so that its messages are never the only
    sign), and so does an empty result."""
    from vtkmodules.util.misc import calldata_type
    from vtkmodules.vtkCommonCore import VTK_STRING, vtkCommand, vtkOutputWindow, vtkStringOutputWindow
    from vtkmodules.vtkIOXML import vtkXMLPolyDataReader

    events: list[str] = []

    @calldata_type(VTK_STRING)
    def caught(obj: Any, event: str, data: Any = None) -> None:
        events.append(str(data or event))

    reader = vtkXMLPolyDataReader()
    for event in (vtkCommand.ErrorEvent, vtkCommand.WarningEvent):
        reader.AddObserver(event, caught)
    # what the reader's helpers (the XML parser, the pipeline) report goes to VTK's output window:
    # a string window of our own while reading, and VTK's own log (straight to stderr) off
    sink = vtkStringOutputWindow()
    previous = vtkOutputWindow.GetInstance()
    with _VTK_OUTPUT:
        vtkOutputWindow.SetInstance(sink)
        try:
            with pv.vtk_verbosity("off"):
                reader.SetFileName(str(path))
                reader.Update()
        finally:
            vtkOutputWindow.SetInstance(previous)
    events += [line for line in sink.GetOutput().splitlines() if line.strip()]
    if events or reader.GetErrorCode():
        first = " ".join((events[0] if events else f"error code {reader.GetErrorCode()}").split())[:200]
        raise CacheError(f"{path.name}: VTK could not read it ({max(len(events), 1)} messages; {first})")
    out = reader.GetOutput()
    if not isinstance(pv.wrap(out), pv.PolyData) or out.GetNumberOfPoints() == 0:
        raise CacheError(f"{path.name}: not a mesh with points")
    return compact_mesh(out)


def _cell_arrays(mesh: Any) -> list[Any]:
    return [c for c in (mesh.GetPolys(), mesh.GetLines(), mesh.GetStrips(), mesh.GetVerts())
            if c is not None and c.GetNumberOfCells()]


def is_compact(mesh: Any) -> bool:
    """Whether a mesh's cells are stored as :func:`compact_mesh` stores them (32-bit point ids)."""
    return not any(c.IsStorage64Bit() for c in _cell_arrays(mesh))


def compact_mesh(mesh: Any) -> pv.PolyData:
    """A read-only face mesh as it is kept in memory: detached from the reader or filter that made it (its
    pipeline, and what that holds, is freed) and its cells' point ids stored in 32 bits when they fit
    (VTK reads them as 64-bit ids: 8 bytes per id instead of 4; the same ids, so every answer is the
    same). Measured: ~8 MB less per face (issue 11, docs/cache.md)."""
    detached = pv.PolyData()
    detached.ShallowCopy(mesh)
    for cells in _cell_arrays(detached):
        if cells.IsStorage64Bit():
            cells.ConvertTo32BitStorage()  # keeps 64 bits (returns False) when an id does not fit
    return detached


# -- writing ---------------------------------------------------------------------------------------
@contextlib.contextmanager
def write_lock(folder: Path) -> Iterator[None]:
    """An exclusive lock on a face's folder while it is written (another process writing the same
    face waits; readers never wait: they check the hashes)."""
    import fcntl

    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def save_mesh(mesh: pv.PolyData, dest: Path) -> None:
    """Write a mesh atomically: to a hidden temporary file beside ``dest``, fsynced, then renamed."""
    tmp = dest.with_name(f".{dest.stem}.{os.getpid()}.tmp{dest.suffix}")
    try:
        mesh.save(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def remove_unlisted(folder: Path, keep: Iterable[str]) -> None:
    """Delete the files of ``folder`` not in ``keep`` (a previous build's leftovers, stray temp files)."""
    keep = set(keep)
    for p in folder.iterdir():
        if p.is_file() and p.name not in keep and p.name != ".lock":
            with contextlib.suppress(OSError):
                p.unlink()


# -- the disk budget -------------------------------------------------------------------------------
def touch(folder: Path) -> None:
    """Mark a face's folder as just used (its modification time); a read-only cache is left as is."""
    with contextlib.suppress(OSError):
        os.utime(folder)


def folder_bytes(folder: Path) -> int:
    """The bytes of the files in a folder (not recursive: a face's folder has no subfolders)."""
    total = 0
    for p in folder.iterdir():
        with contextlib.suppress(OSError):
            if p.is_file():
                total += p.stat().st_size
    return total


def is_face_folder(folder: Path) -> bool:
    """Whether ``folder`` looks like a cached face: a face's name, only cache files, no subfolder."""
    if not folder.is_dir() or folder.is_symlink() or not FACE_FOLDER.match(folder.name):
        return False
    for p in folder.iterdir():
        if p.is_dir() or p.is_symlink():
            return False
        if not p.name.startswith(".") and p.suffix not in CACHE_SUFFIXES:
            return False
    return True


def prune(root: Path, budget_bytes: float, keep: Iterable[str] = ()) -> list[str]:
    """Delete the least recently used face folders of ``root`` until the cache fits ``budget_bytes``.

    Parameters
    ----------
    root : Path
        The cache's folder.
    budget_bytes : float
        The most the face folders may take together.
    keep : iterable of str
        Folder names never deleted (the face just used); ``default`` is always kept.

    Returns
    -------
    list of str
        The names of the deleted folders, the least recently used first.
    """
    keep = {"default", *keep}
    try:
        folders = [p for p in root.iterdir() if is_face_folder(p)]
    except OSError:
        return []
    sizes = {p.name: folder_bytes(p) for p in folders}
    total = sum(sizes.values())
    deleted: list[str] = []
    for p in sorted(folders, key=lambda q: q.stat().st_mtime):
        if total <= budget_bytes:
            break
        if p.name in keep:
            continue
        try:
            shutil.rmtree(p)
        except OSError as exc:
            note(f"could not delete the cached face {p} to keep the cache's disk budget ({exc})")
            continue
        total -= sizes[p.name]
        deleted.append(p.name)
    return deleted


def note(message: str) -> None:
    """A note for the user on stderr (the command's output and exit status are unaffected)."""
    print(f"injectmap: note: {message}", file=sys.stderr, flush=True)


# -- memory ----------------------------------------------------------------------------------------
def rss_mb() -> float:
    """This process's resident memory in MB (``/proc/self/status``; psutil elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import psutil

    return float(psutil.Process().memory_info().rss) / 2**20


#: the variant faces :func:`measure_face_memory` loads, in order (the tests' variants), as keywords
MEMORY_FACES: tuple[dict[str, float], ...] = (
    {"masseter": -1.0}, {"masseter": 1.0}, {"brow_left": 1.0}, {"sex": 0.0}, {"sex": 1.0},
)


def release_memory() -> None:
    """Give the memory of let-go faces back to the system: collect the cycles a face with its spatial
    index forms, then ask the C allocator to return its free pages (glibc ``malloc_trim``; elsewhere
    only the collection). Freed faces otherwise stay in the process's heap: measured, three released
    variants kept ~250 MB of RSS without it, none with it (docs/cache.md)."""
    import ctypes
    import ctypes.util
    import gc

    gc.collect()
    name = ctypes.util.find_library("c")
    if name and sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(name).malloc_trim(0)


def measure_face_memory(faces: int = 3) -> dict[str, float]:
    """The process's RSS (MB) at rest, while ``faces`` variant faces are loaded, and after they are let go.

    "At rest" is the process with the default face loaded and indexed (a server's idle state). The
    variants are loaded through ``load_model`` (from the cache; built there when missing) into a
    registry of their own (the process's :data:`~injectmap.anatomy.model.FACES` is left as it was),
    each with its spatial index, then let go: ``rss_released_mb`` after the garbage collector alone,
    ``rss_returned_mb`` after :func:`release_memory`. ``above_idle_fraction`` is how far the latter
    stays above the idle figure (issue 11's target: within ``data/face_cache.yaml``'s
    ``memory.return_to_idle_within``). For ``injectmap anatomy memory`` and ``injectmap bench --faces``
    (a memory target is checked there, not in a timed unit test).
    """
    import gc
    import weakref

    from injectmap.anatomy import model as model_mod
    from injectmap.anatomy.params import FaceParams, face_cache_settings

    if not 1 <= faces <= len(MEMORY_FACES):
        raise ValueError(f"faces must be from 1 to {len(MEMORY_FACES)}")
    default = model_mod.load_model()
    default.index  # noqa: B018 - built, as at rest in a server
    saved = model_mod.FACES
    model_mod.FACES = model_mod.FaceRegistry(model_mod.MAX_LOADED_FACES, model_mod.MEMORY_BUDGET_BYTES)
    try:
        release_memory()
        res: dict[str, float] = {"rss_idle_mb": round(rss_mb(), 1)}
        probes = []
        for i, face in enumerate(MEMORY_FACES[:faces]):
            m = model_mod.load_model(params=FaceParams(**face))  # type: ignore[arg-type]
            index = m.index  # built, as a session's analysis does
            probes.append(weakref.ref(m))
            res[f"rss_after_face_{i + 1}_mb"] = round(rss_mb(), 1)
            del m, index  # nothing here holds a face any more: only the registry does
        loaded = res[f"rss_after_face_{faces}_mb"]
        res["faces_kept_mb"] = round(model_mod.FACES.kept_bytes() / 1e6, 1)
        model_mod.FACES.clear()
        gc.collect()
        res["rss_released_mb"] = round(rss_mb(), 1)
        release_memory()
        res["rss_returned_mb"] = round(rss_mb(), 1)
        res["faces_still_alive"] = float(sum(p() is not None for p in probes))
        grown = loaded - res["rss_idle_mb"]
        res["released_fraction"] = round((loaded - res["rss_returned_mb"]) / grown, 3) if grown > 0 else 1.0
        res["above_idle_fraction"] = round((res["rss_returned_mb"] - res["rss_idle_mb"]) / res["rss_idle_mb"], 3)
        target = face_cache_settings().memory.return_to_idle_within
        if target is not None:
            res["back_to_idle_target"] = target
            res["back_to_idle_met"] = float(res["above_idle_fraction"] <= target and not res["faces_still_alive"])
        return res
    finally:
        model_mod.FACES = saved
