"""Descriptive and numeric metadata of the anatomy model, read from ``injectmap/anatomy/data/*.yaml``.

Three files:

``structures.yaml``
    One entry per base structure id (bilateral ones once), with kind, layer, display name, colour,
    plain-language action and risk text, treatment aims, a ``spare`` flag, citations and sourced
    geometry ``facts``. :func:`load_structures` expands bilateral entries to ``_left``/``_right``.
``anthropometry.yaml``
    Published adult landmark-to-landmark distances (male and female mean and SD).
``tissue_depth.yaml``
    Soft-tissue depths (skin to bone) at landmarks, and layer thicknesses by region.

Every loader validates on load and raises :class:`MetadataError` naming the file and the entry.
All numbers are population means with wide spread; they never give a patient-specific safe distance.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn

import yaml
from pydantic import (
    BeforeValidator,
    Field,
    NonNegativeFloat,
    StrictBool,
    StringConstraints,
    ValidationError,
    model_validator,
)

from injectmap.anatomy import ids
from injectmap.anatomy.datamodel import DataModel, loc_text
from injectmap.anatomy.yamlio import SafeLoader

DATA_DIR = Path(__file__).parent / "data"
STRUCTURES_FILE = DATA_DIR / "structures.yaml"
ANTHROPOMETRY_FILE = DATA_DIR / "anthropometry.yaml"
TISSUE_DEPTH_FILE = DATA_DIR / "tissue_depth.yaml"

LAYERS = ("skin", "subcutaneous_fat", "smas", "muscle", "deep", "bone", "orbit")
STRUCTURE_KINDS = tuple(k for k in ids.KINDS if k != "landmark")
CONFIDENCES = ("R", "S", "M")
_COLOUR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
_ID_RE = re.compile(r"^[a-z][a-z0-9_]*$")


class MetadataError(ValueError):
    """A metadata file is missing, malformed or inconsistent; the message names file and entry."""


@dataclass(frozen=True)
class Fact:
    """One sourced number about a structure (a depth, a calibre, a distance...).

    Attributes
    ----------
    what : str
        Snake-case name of the quantity, unique within its structure (e.g. ``"depth"``).
    value : float
        Population mean (or the single published value).
    unit : str
        ``"mm"``, ``"fraction"``, ``"count"``...
    source : str
        Citation (authors, journal, year).
    confidence : str
        ``"R"`` read in the source, ``"S"`` secondary source, ``"M"`` from memory, to verify.
    sd : float or None
        Standard deviation where published.
    note : str
        Free text (where measured, disagreeing sources...).
    """

    what: str
    value: float
    unit: str
    source: str
    confidence: str
    sd: float | None = None
    note: str = ""


@dataclass(frozen=True)
class StructureInfo:
    """Metadata of one structure, keyed by its full id (with side suffix when bilateral).

    Attributes
    ----------
    id : str
        Full id, e.g. ``"corrugator_supercilii_left"``.
    base : str
        Id without the side suffix.
    kind : str
        One of ``anatomy.ids.KINDS`` (never ``"landmark"``).
    side : str
        ``"left"``, ``"right"`` or ``"midline"``.
    layer : str
        One of :data:`LAYERS`: where the structure lives.
    name : str
        Display name.
    colour : str
        ``"#rrggbb"``.
    action : str
        What its contraction does (muscles) or what it is.
    weakened : str
        What goes wrong if toxin weakens it by accident or in excess, or if a needle hits it.
    treated_for : str
        Aesthetic aim when it is a toxin target; empty otherwise.
    spare : bool
        True when a dose reaching it (and it not being the target) deserves a warning.
    sources : tuple of str
        Citations.
    facts : tuple of Fact
        Sourced numbers.
    spare_note : str
        When sparing applies, if conditional.
    """

    id: str
    base: str
    kind: str
    side: str
    layer: str
    name: str
    colour: str
    action: str
    weakened: str
    treated_for: str
    spare: bool
    sources: tuple[str, ...]
    facts: tuple[Fact, ...]
    spare_note: str = ""

    def fact(self, what: str) -> Fact:
        """The fact named ``what``; raises ``KeyError`` naming the structure if absent."""
        for f in self.facts:
            if f.what == what:
                return f
        known = ", ".join(f.what for f in self.facts) or "none"
        raise KeyError(f"structure {self.base!r} has no fact {what!r} (known: {known})")


@dataclass(frozen=True)
class Measurement:
    """A published landmark-to-landmark distance (straight line between the two landmarks).

    Attributes
    ----------
    id : str
        Key, e.g. ``"en_en"``.
    name : str
        Display name, e.g. ``"intercanthal width"``.
    landmarks : tuple of str
        Two model landmark ids (from ``anatomy.ids.landmark_ids()``).
    male_mean, male_sd, female_mean, female_sd : float
        Millimetres.
    source : str
        Citation.
    confidence : str
        ``"R"``, ``"S"`` or ``"M"``.
    note : str
        Free text (landmark substitutions such as gnathion -> menton, population...).
    """

    id: str
    name: str
    landmarks: tuple[str, str]
    male_mean: float
    male_sd: float
    female_mean: float
    female_sd: float
    source: str
    confidence: str
    note: str = ""

    def range(self, sex: str, k: float = 2.0) -> tuple[float, float]:
        """``(mean - k*sd, mean + k*sd)`` for ``sex`` in ``{"male", "female"}``."""
        if sex == "male":
            m, s = self.male_mean, self.male_sd
        elif sex == "female":
            m, s = self.female_mean, self.female_sd
        else:
            raise ValueError(f"sex must be 'male' or 'female', not {sex!r}")
        return (m - k * s, m + k * s)


@dataclass(frozen=True)
class DepthValue:
    """Soft-tissue depth at one landmark from one source (millimetres, skin to bone)."""

    source: str
    confidence: str
    male: float
    female: float
    male_sd: float | None = None
    female_sd: float | None = None
    note: str = ""


@dataclass(frozen=True)
class TissueDepth:
    """Soft-tissue depth (skin surface to bone) at a craniometric landmark.

    Attributes
    ----------
    id : str
        Key, e.g. ``"glabella"``.
    name : str
        Name used in the forensic tables.
    midline : bool
        True for midline landmarks, False for bilateral ones.
    model_landmark : str or None
        The nearest model landmark id, if one corresponds (the base id, e.g. ``"gonion"``, for a
        bilateral landmark: the depth applies to both sides).
    location : str
        Where it is relative to the CONTRACTS landmarks.
    male, female : float
        Preferred mean values (mm), from ``values[0]``.
    values : tuple of DepthValue
        Every source's values, preferred first.
    """

    id: str
    name: str
    midline: bool
    model_landmark: str | None
    location: str
    values: tuple[DepthValue, ...]

    @property
    def male(self) -> float:
        """Preferred male mean depth in mm."""
        return self.values[0].male

    @property
    def female(self) -> float:
        """Preferred female mean depth in mm."""
        return self.values[0].female


@dataclass(frozen=True)
class LayerThickness:
    """Thickness of one tissue layer in one region."""

    id: str
    layer: str
    region: str
    value: float
    unit: str
    source: str
    confidence: str
    min: float | None = None
    max: float | None = None
    sd: float | None = None
    note: str = ""


@dataclass(frozen=True)
class TissueDepthTable:
    """Contents of ``tissue_depth.yaml``: depths at landmarks and layer thicknesses."""

    landmarks: dict[str, TissueDepth]
    layers: dict[str, LayerThickness]


# --------------------------------------------------------------------------- YAML reading


class _UniqueKeyLoader(SafeLoader):  # type: ignore[misc,valid-type]
    """Safe loader that rejects duplicate mapping keys (plain safe_load keeps the last silently)."""


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    out: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in out:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        out[key] = loader.construct_object(value_node, deep=True)
    return out


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping
)


def _read_yaml(path: Path) -> dict[str, Any]:
    """Parse ``path`` (safe loader, duplicate keys rejected) into a top-level mapping."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MetadataError(f"{path}: cannot read ({exc})") from exc
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise MetadataError(f"{path}: invalid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise MetadataError(f"{path}: top level must be a mapping")
    return data


class _Entry:
    """Typed access to one entry's fields, raising errors that name file and entry."""

    def __init__(self, path: Path, where: str, raw: Any) -> None:
        self.path = path
        self.where = where
        if not isinstance(raw, dict):
            self.fail("must be a mapping")
        self.raw: dict[str, Any] = raw

    def fail(self, msg: str) -> NoReturn:
        raise MetadataError(f"{self.path.name}: {self.where}: {msg}")

    def check_keys(self, required: set[str], optional: set[str]) -> None:
        missing = sorted(required - self.raw.keys())
        if missing:
            self.fail(f"missing field(s) {', '.join(missing)}")
        unknown = sorted(self.raw.keys() - required - optional)
        if unknown:
            self.fail(f"unknown field(s) {', '.join(map(str, unknown))}")

    def text(self, key: str, *, allow_empty: bool = False, default: str | None = None) -> str:
        if key not in self.raw and default is not None:
            return default
        val = self.raw.get(key)
        if val is None and allow_empty:
            return ""
        if not isinstance(val, str):
            self.fail(f"field {key!r} must be text, not {type(val).__name__}")
        val = val.strip()
        if not val and not allow_empty:
            self.fail(f"field {key!r} must not be empty")
        return val

    def boolean(self, key: str) -> bool:
        val = self.raw.get(key)
        if not isinstance(val, bool):
            self.fail(f"field {key!r} must be true or false, not {val!r}")
        return val

    def number(self, key: str, *, optional: bool = False, positive: bool = False) -> float | None:
        val = self.raw.get(key)
        if val is None and optional:
            return None
        if isinstance(val, bool) or not isinstance(val, (int, float)):
            self.fail(f"field {key!r} must be a number, not {val!r}")
        if positive and val <= 0:
            self.fail(f"field {key!r} must be positive, not {val!r}")
        if not positive and val < 0:
            self.fail(f"field {key!r} must not be negative, not {val!r}")
        return float(val)

    def req_number(self, key: str, *, positive: bool = False) -> float:
        val = self.number(key, positive=positive)
        assert val is not None
        return val

    def choice(self, key: str, allowed: tuple[str, ...]) -> str:
        val = self.raw.get(key)
        if val not in allowed:
            self.fail(f"field {key!r} is {val!r}; expected one of {', '.join(allowed)}")
        return str(val)

    def text_list(self, key: str) -> tuple[str, ...]:
        val = self.raw.get(key)
        if not isinstance(val, list) or not val:
            self.fail(f"field {key!r} must be a non-empty list")
        for i, item in enumerate(val):
            if not isinstance(item, str) or not item.strip():
                self.fail(f"field {key!r} item {i} must be non-empty text")
        return tuple(s.strip() for s in val)

    def sub(self, key: str, index: int | str, raw: Any) -> _Entry:
        return _Entry(self.path, f"{self.where}: {key}[{index}]", raw)


def _section(path: Path, data: dict[str, Any], key: str, kind: type) -> Any:
    if key not in data:
        raise MetadataError(f"{path.name}: missing top-level key {key!r}")
    val = data[key]
    if not isinstance(val, kind) or not val:
        raise MetadataError(f"{path.name}: {key!r} must be a non-empty {kind.__name__}")
    return val


def _check_top(path: Path, data: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise MetadataError(f"{path.name}: unknown top-level key(s) {', '.join(unknown)}")
    if data.get("version") != 1:
        raise MetadataError(f"{path.name}: 'version' must be 1, not {data.get('version')!r}")


def _check_id(entry: _Entry, key: str) -> None:
    if not isinstance(key, str) or not _ID_RE.match(key):
        entry.fail("id must be lower snake case")


# --------------------------------------------------------------------------- structures

def _stripped(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


Text = Annotated[str, BeforeValidator(_stripped), StringConstraints(min_length=1)]
OptionalText = Annotated[str, BeforeValidator(lambda v: "" if v is None else _stripped(v))]


class _FactEntry(DataModel):
    what: Annotated[str, StringConstraints(pattern=_ID_RE.pattern)]
    value: NonNegativeFloat
    unit: Text
    source: Text
    confidence: Literal["R", "S", "M"]
    sd: NonNegativeFloat | None = None
    note: OptionalText = ""


class _StructureEntry(DataModel):
    """One entry of structures.yaml (a base id; bilateral entries once)."""

    kind: Literal[STRUCTURE_KINDS]  # type: ignore[valid-type]
    bilateral: StrictBool
    layer: Literal[LAYERS]  # type: ignore[valid-type]
    name: Text
    colour: Annotated[str, StringConstraints(pattern=_COLOUR_RE.pattern)]
    action: Text
    weakened: Text
    treated_for: OptionalText
    spare: StrictBool
    sources: Annotated[list[Text], Field(min_length=1)]
    facts: list[_FactEntry] | None = None
    spare_note: OptionalText = ""

    @model_validator(mode="after")
    def _unique_facts(self) -> _StructureEntry:
        seen: set[str] = set()
        for f in self.facts or ():
            if f.what in seen:
                raise ValueError(f"duplicate fact {f.what!r}")
            seen.add(f.what)
        return self


class StructuresFile(DataModel):
    """structures.yaml, version 1."""

    version: Literal[1]
    structures: Annotated[dict[str, _StructureEntry], Field(min_length=1)]


def _structure_messages(path: Path, exc: ValidationError) -> list[str]:
    """pydantic's errors as ``structures.yaml: structure 'x': ...`` lines (missing and unknown fields grouped)."""
    missing: dict[str, list[str]] = {}
    unknown: dict[str, list[str]] = {}
    lines: list[str] = []
    for e in exc.errors():
        loc = tuple(e["loc"])
        if len(loc) < 2 or loc[0] != "structures":
            lines.append(f"{path.name}: {loc_text(loc) or 'top level'}: {e['msg']}")
            continue
        where = f"structure {loc[1]!r}"
        if len(loc) == 3 and e["type"] in ("missing", "extra_forbidden"):
            (missing if e["type"] == "missing" else unknown).setdefault(where, []).append(str(loc[2]))
            continue
        field = loc_text(loc[2:])
        lines.append(f"{path.name}: {where}: " + (f"field {field!r}: " if field else "") + e["msg"])
    lines += [f"{path.name}: {w}: missing field(s) {', '.join(sorted(k))}" for w, k in missing.items()]
    lines += [f"{path.name}: {w}: unknown field(s) {', '.join(sorted(k))}" for w, k in unknown.items()]
    return lines


def _structure_infos(path: Path, base: str, raw: _StructureEntry) -> list[StructureInfo]:
    where = f"{path.name}: structure {base!r}"
    if not _ID_RE.match(base):
        raise MetadataError(f"{where}: id must be lower snake case")
    if raw.bilateral and ids.side_of(base) != "midline":
        raise MetadataError(f"{where}: a bilateral entry's id must not carry a side suffix")
    facts = tuple(Fact(what=f.what, value=f.value, unit=f.unit, source=f.source, confidence=f.confidence,
                       sd=f.sd, note=f.note) for f in raw.facts or ())
    common = dict(base=base, kind=raw.kind, layer=raw.layer, name=raw.name, colour=raw.colour.lower(),
                  action=raw.action, weakened=raw.weakened, treated_for=raw.treated_for, spare=raw.spare,
                  sources=tuple(raw.sources), facts=facts, spare_note=raw.spare_note)
    sides = ids.SIDES if raw.bilateral else ("midline",)
    return [StructureInfo(id=base if side == "midline" else f"{base}_{side}", side=side, **common)  # type: ignore[arg-type]
            for side in sides]


def parse_structures(path: Path) -> dict[str, StructureInfo]:
    """Read and validate a structures file at ``path``; keys are full ids.

    The file is checked against its model (:class:`StructuresFile`), which collects every problem.

    Parameters
    ----------
    path : Path
        A YAML file in the ``structures.yaml`` format.

    Returns
    -------
    dict of str to StructureInfo
        Bilateral entries expanded to ``<base>_left`` and ``<base>_right``.

    Raises
    ------
    MetadataError
        On any missing field, bad value, unknown kind or layer, bad colour, duplicate fact, listing
        every problem with the file and the entry.
    """
    path = Path(path)
    data = _read_yaml(path)
    try:
        model = StructuresFile.model_validate(data)
    except ValidationError as exc:
        raise MetadataError("\n".join(_structure_messages(path, exc))) from None
    out: dict[str, StructureInfo] = {}
    for base, raw in model.structures.items():
        for info in _structure_infos(path, base, raw):
            if info.id in out:
                raise MetadataError(f"{path.name}: structure {base!r}: id {info.id!r} defined twice")
            out[info.id] = info
    return out


@functools.lru_cache(maxsize=4)
def _cached_structures(path: str) -> dict[str, StructureInfo]:
    return parse_structures(Path(path))


def load_structures(path: Path | str | None = None) -> dict[str, StructureInfo]:
    """Structure metadata keyed by full id (bilateral entries expanded to ``_left``/``_right``).

    Parameters
    ----------
    path : Path or str, optional
        Defaults to the packaged ``injectmap/anatomy/data/structures.yaml``.

    Returns
    -------
    dict of str to StructureInfo
        A fresh dict (the parsed values are cached and immutable).
    """
    return dict(_cached_structures(str(path or STRUCTURES_FILE)))


def fact(base_id: str, what: str, path: Path | str | None = None) -> float:
    """The value of fact ``what`` of structure ``base_id`` (a full id with a side is accepted).

    Raises
    ------
    KeyError
        Naming the structure and listing its known facts when absent.
    """
    structures = load_structures(path)
    for candidate in (base_id, f"{base_id}_left"):
        if candidate in structures:
            return structures[candidate].fact(what).value
    raise KeyError(f"no structure {base_id!r} in the structure metadata")


# --------------------------------------------------------------------------- anthropometry

_MEAS_REQUIRED = {
    "name", "landmarks", "male_mean", "male_sd", "female_mean", "female_sd", "source",
    "confidence",
}
_MEAS_OPTIONAL = {"note", "farkas_code", "other_sources"}


def parse_anthropometry(path: Path) -> dict[str, Measurement]:
    """Read and validate an anthropometry file at ``path``.

    Raises
    ------
    MetadataError
        On a missing field, an unknown landmark id, a non-positive mean or SD.
    """
    path = Path(path)
    data = _read_yaml(path)
    _check_top(path, data, {"version", "population", "measurements"})
    entries = _section(path, data, "measurements", dict)
    known = set(ids.landmark_ids())
    out: dict[str, Measurement] = {}
    for key, raw in entries.items():
        e = _Entry(path, f"measurement {key!r}", raw)
        _check_id(e, key)
        e.check_keys(_MEAS_REQUIRED, _MEAS_OPTIONAL)
        lms = e.raw["landmarks"]
        if not (isinstance(lms, list) and len(lms) == 2 and all(isinstance(x, str) for x in lms)):
            e.fail("field 'landmarks' must be a list of two landmark ids")
        for lm in lms:
            if lm not in known:
                e.fail(f"unknown landmark id {lm!r}")
        if lms[0] == lms[1]:
            e.fail("the two landmarks must differ")
        other = e.raw.get("other_sources", [])
        if not isinstance(other, list):
            e.fail("field 'other_sources' must be a list")
        out[key] = Measurement(
            id=key,
            name=e.text("name"),
            landmarks=(lms[0], lms[1]),
            male_mean=e.req_number("male_mean", positive=True),
            male_sd=e.req_number("male_sd", positive=True),
            female_mean=e.req_number("female_mean", positive=True),
            female_sd=e.req_number("female_sd", positive=True),
            source=e.text("source"),
            confidence=e.choice("confidence", CONFIDENCES),
            note=e.text("note", allow_empty=True, default=""),
        )
    return out


@functools.lru_cache(maxsize=4)
def _cached_anthropometry(path: str) -> dict[str, Measurement]:
    return parse_anthropometry(Path(path))


def load_anthropometry(path: Path | str | None = None) -> dict[str, Measurement]:
    """Published adult landmark-to-landmark distances keyed by measurement id (e.g. ``"en_en"``)."""
    return dict(_cached_anthropometry(str(path or ANTHROPOMETRY_FILE)))


# --------------------------------------------------------------------------- tissue depth

_DEPTH_REQUIRED = {"name", "midline", "location", "values"}
_DEPTH_OPTIONAL = {"model_landmark", "note"}
_DVAL_REQUIRED = {"source", "confidence", "male", "female"}
_DVAL_OPTIONAL = {"male_sd", "female_sd", "note", "method"}
_LAYER_REQUIRED = {"layer", "region", "value", "unit", "source", "confidence"}
_LAYER_OPTIONAL = {"min", "max", "sd", "note"}


def parse_tissue_depth(path: Path) -> TissueDepthTable:
    """Read and validate a tissue-depth file at ``path``.

    Raises
    ------
    MetadataError
        On a missing field, an unknown model landmark, a non-positive depth, a layer thickness
        outside its own min-max.
    """
    path = Path(path)
    data = _read_yaml(path)
    _check_top(path, data, {"version", "notes", "landmarks", "layers"})
    # Bilateral depth landmarks name the base id of the model landmark (same value both sides).
    known_depth = set(ids.landmark_ids()) | set(ids.BILATERAL_LANDMARKS)
    landmarks: dict[str, TissueDepth] = {}
    for key, raw in _section(path, data, "landmarks", dict).items():
        e = _Entry(path, f"landmark {key!r}", raw)
        _check_id(e, key)
        e.check_keys(_DEPTH_REQUIRED, _DEPTH_OPTIONAL)
        model_lm = e.raw.get("model_landmark")
        if model_lm is not None and model_lm not in known_depth:
            e.fail(f"unknown model landmark id {model_lm!r}")
        vals_raw = e.raw["values"]
        if not isinstance(vals_raw, list) or not vals_raw:
            e.fail("field 'values' must be a non-empty list")
        values = []
        for i, vr in enumerate(vals_raw):
            v = e.sub("values", i, vr)
            v.check_keys(_DVAL_REQUIRED, _DVAL_OPTIONAL)
            values.append(
                DepthValue(
                    source=v.text("source"),
                    confidence=v.choice("confidence", CONFIDENCES),
                    male=v.req_number("male", positive=True),
                    female=v.req_number("female", positive=True),
                    male_sd=v.number("male_sd", optional=True),
                    female_sd=v.number("female_sd", optional=True),
                    note=v.text("note", allow_empty=True, default=""),
                )
            )
        landmarks[key] = TissueDepth(
            id=key,
            name=e.text("name"),
            midline=e.boolean("midline"),
            model_landmark=model_lm,
            location=e.text("location"),
            values=tuple(values),
        )
    layers: dict[str, LayerThickness] = {}
    for key, raw in _section(path, data, "layers", dict).items():
        e = _Entry(path, f"layer thickness {key!r}", raw)
        _check_id(e, key)
        e.check_keys(_LAYER_REQUIRED, _LAYER_OPTIONAL)
        value = e.req_number("value", positive=True)
        lo = e.number("min", optional=True)
        hi = e.number("max", optional=True)
        if lo is not None and value < lo or hi is not None and value > hi:
            e.fail(f"value {value} lies outside its own min-max")
        layers[key] = LayerThickness(
            id=key,
            layer=e.choice("layer", LAYERS + ("fascia",)),
            region=e.text("region"),
            value=value,
            unit=e.text("unit"),
            source=e.text("source"),
            confidence=e.choice("confidence", CONFIDENCES),
            min=lo,
            max=hi,
            sd=e.number("sd", optional=True),
            note=e.text("note", allow_empty=True, default=""),
        )
    return TissueDepthTable(landmarks=landmarks, layers=layers)


@functools.lru_cache(maxsize=4)
def _cached_tissue_depth(path: str) -> TissueDepthTable:
    return parse_tissue_depth(Path(path))


def load_tissue_depth(path: Path | str | None = None) -> TissueDepthTable:
    """Soft-tissue depths at landmarks and layer thicknesses by region (fresh dicts each call)."""
    table = _cached_tissue_depth(str(path or TISSUE_DEPTH_FILE))
    return TissueDepthTable(landmarks=dict(table.landmarks), layers=dict(table.layers))
