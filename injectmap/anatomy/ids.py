"""Identifiers fixed by shared/CONTRACTS.md: landmarks, structures and kinds.

Every id listed here must exist in the default model. Bilateral ids end in ``_left`` or
``_right`` (the subject's sides); midline ids have no suffix.
"""

from __future__ import annotations

from functools import lru_cache

SIDES = ("left", "right")

KINDS = ("landmark", "muscle", "gland", "duct", "artery", "nerve", "layer", "bone")

MIDLINE_LANDMARKS = (
    "trichion", "glabella", "nasion", "pronasale", "subnasale", "labrale_superius", "stomion",
    "labrale_inferius", "sublabiale", "pogonion", "menton",
)
BILATERAL_LANDMARKS = (
    "endocanthion", "exocanthion", "pupil", "brow_medial", "brow_peak", "brow_lateral",
    "orbital_rim_superior", "orbital_rim_lateral", "orbitale", "alare", "cheilion", "tragion",
    "otobasion_inferius", "zygion", "gonion", "frontotemporale", "supraorbital_notch",
    "infraorbital_foramen", "mental_foramen",
)
BONE_LANDMARKS = ("supraorbital_notch", "infraorbital_foramen", "mental_foramen")

BILATERAL_MUSCLES = (
    "frontalis", "corrugator_supercilii", "orbicularis_oculi", "levator_palpebrae_superioris",
    "temporalis", "masseter_superficial", "masseter_deep", "zygomaticus_major", "zygomaticus_minor",
    "risorius", "levator_labii_superioris", "levator_labii_superioris_alaeque_nasi", "nasalis",
    "depressor_anguli_oris", "depressor_labii_inferioris", "mentalis", "buccinator", "platysma",
)
MIDLINE_MUSCLES = ("procerus", "orbicularis_oris")
GLANDS = ("parotid_gland",)
DUCTS = ("parotid_duct",)
ARTERIES = (
    "facial_artery", "angular_artery", "superior_labial_artery", "inferior_labial_artery",
    "supratrochlear_artery", "supraorbital_artery", "superficial_temporal_artery",
    "frontal_branch_superficial_temporal_artery", "transverse_facial_artery", "dorsal_nasal_artery",
)
NERVES = (
    "facial_nerve_temporal_branch", "facial_nerve_zygomatic_branch", "facial_nerve_buccal_branch",
    "facial_nerve_marginal_mandibular_branch", "facial_nerve_cervical_branch", "supraorbital_nerve",
    "supratrochlear_nerve", "infraorbital_nerve", "mental_nerve",
)
LAYERS = ("skin", "subcutaneous_fat", "smas")
BONE = ("bone",)
ORBITS = ("orbit_left", "orbit_right")


def bilateral(names: tuple[str, ...]) -> list[str]:
    """Expand base names into ``name_left``, ``name_right`` pairs."""
    return [f"{n}_{s}" for n in names for s in SIDES]


def landmark_ids() -> list[str]:
    """Every landmark id CONTRACTS requires."""
    return list(MIDLINE_LANDMARKS) + bilateral(BILATERAL_LANDMARKS)


def structure_ids() -> dict[str, str]:
    """Every structure id CONTRACTS requires, mapped to its kind."""
    out: dict[str, str] = {}
    for sid in bilateral(BILATERAL_MUSCLES) + list(MIDLINE_MUSCLES):
        out[sid] = "muscle"
    for sid in bilateral(GLANDS):
        out[sid] = "gland"
    for sid in bilateral(DUCTS):
        out[sid] = "duct"
    for sid in bilateral(ARTERIES):
        out[sid] = "artery"
    for sid in bilateral(NERVES):
        out[sid] = "nerve"
    for sid in LAYERS:
        out[sid] = "layer"
    for sid in ORBITS:
        out[sid] = "layer"
    out["bone"] = "bone"
    return out


def side_of(identifier: str) -> str:
    """``'left'``, ``'right'`` or ``'midline'`` from an id's suffix."""
    for s in SIDES:
        if identifier.endswith("_" + s):
            return s
    return "midline"


@lru_cache(maxsize=4096)
def base_of(identifier: str) -> str:
    """The id without its side suffix (remembered: the rules ask it of the same few ids for every point)."""
    for s in SIDES:
        if identifier.endswith("_" + s):
            return identifier[: -len(s) - 1]
    return identifier


def mirror_id(identifier: str) -> str:
    """The id of the same structure or landmark on the other side (midline ids map to themselves)."""
    s = side_of(identifier)
    if s == "midline":
        return identifier
    other = "right" if s == "left" else "left"
    return base_of(identifier) + "_" + other
