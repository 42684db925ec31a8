"""Tests of the anatomy metadata files and their loader (anatomy/metadata.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from injectmap.anatomy import ids, metadata
from injectmap.anatomy.metadata import MetadataError

HEX = re.compile(r"^#[0-9a-f]{6}$")


@pytest.fixture(scope="module")
def structures() -> dict[str, metadata.StructureInfo]:
    return metadata.load_structures()


# --------------------------------------------------------------------------- the shipped files


def test_every_contract_structure_has_metadata(structures: dict) -> None:
    required = ids.structure_ids()
    missing = sorted(set(required) - set(structures))
    assert not missing, f"no metadata for {missing}"
    extra = sorted(set(structures) - set(required))
    assert not extra, f"metadata for ids not in anatomy.ids: {extra}"


def test_kinds_match_ids(structures: dict) -> None:
    for sid, kind in ids.structure_ids().items():
        assert structures[sid].kind == kind, sid


def test_text_fields_and_sources(structures: dict) -> None:
    for sid, info in structures.items():
        assert info.name.strip(), sid
        assert info.weakened.strip(), sid
        assert info.sources and all(s.strip() for s in info.sources), sid
        if info.kind == "muscle":
            assert info.action.strip(), sid
        assert info.layer in metadata.LAYERS, sid


def test_colours_valid_and_muscles_distinct(structures: dict) -> None:
    for sid, info in structures.items():
        assert HEX.match(info.colour), (sid, info.colour)
    muscle_colours: dict[str, str] = {}
    for info in structures.values():
        if info.kind != "muscle" or info.side == "right":
            continue
        assert info.colour not in muscle_colours, (
            f"{info.base} shares colour {info.colour} with {muscle_colours.get(info.colour)}"
        )
        muscle_colours[info.colour] = info.base


def test_bilateral_expansion(structures: dict) -> None:
    left, right = structures["corrugator_supercilii_left"], structures["corrugator_supercilii_right"]
    assert (left.side, right.side) == ("left", "right")
    assert left.base == right.base == "corrugator_supercilii"
    assert left.facts == right.facts and left.name == right.name
    assert structures["procerus"].side == "midline"
    assert "procerus_left" not in structures
    assert structures["orbit_right"].base == "orbit"
    for sid, info in structures.items():
        assert ids.side_of(sid) == info.side, sid
        assert ids.base_of(sid) == info.base, sid


def test_spare_flags(structures: dict) -> None:
    for base in ("levator_palpebrae_superioris", "zygomaticus_major", "risorius", "orbit",
                 "parotid_duct", "parotid_gland", "facial_artery"):
        assert structures[f"{base}_left"].spare, base
    for sid, info in structures.items():
        if info.kind in ("artery", "nerve"):
            assert info.spare and not info.treated_for, sid
    for target in ("procerus", "frontalis_left", "corrugator_supercilii_left", "masseter_superficial_left"):
        assert structures[target].treated_for and not structures[target].spare, target


def test_fact_helper() -> None:
    assert metadata.fact("facial_artery", "depth_antegonial_notch") == pytest.approx(9.3)
    assert metadata.fact("angular_artery_left", "depth") == pytest.approx(2.3)
    assert metadata.fact("procerus", "depth_glabella") == pytest.approx(3.8)
    with pytest.raises(KeyError, match="no fact"):
        metadata.fact("facial_artery", "no_such_fact")
    with pytest.raises(KeyError, match="no structure"):
        metadata.fact("no_such_structure", "depth")


def test_facts_well_formed(structures: dict) -> None:
    for sid, info in structures.items():
        for f in info.facts:
            assert f.confidence in metadata.CONFIDENCES, (sid, f.what)
            assert f.source.strip() and f.unit.strip(), (sid, f.what)
            if f.unit == "mm":
                assert 0 <= f.value < 200, (sid, f.what, f.value)
            if f.unit == "fraction":
                assert 0 <= f.value <= 1, (sid, f.what)


def test_anthropometry_loads() -> None:
    meas = metadata.load_anthropometry()
    for key in ("en_en", "ex_ex", "al_al", "ch_ch", "zy_zy", "go_go", "n_gn", "n_sto", "sn_gn",
                "n_sn", "tr_n"):
        m = meas[key]
        assert m.male_mean > 0 and m.female_mean > 0 and m.male_sd > 0 and m.female_sd > 0
        lo, hi = m.range("male", 2)
        assert lo < m.male_mean < hi
    # Sanity of the table itself: widths ordered, sexes close.
    assert meas["en_en"].male_mean < meas["al_al"].male_mean < meas["ch_ch"].male_mean
    assert meas["ch_ch"].male_mean < meas["ex_ex"].male_mean < meas["go_go"].male_mean
    assert meas["go_go"].male_mean < meas["zy_zy"].male_mean
    for m in meas.values():
        assert 0.8 < m.female_mean / m.male_mean < 1.1, m.id


def test_tissue_depth_loads() -> None:
    table = metadata.load_tissue_depth()
    for key in ("glabella", "nasion", "rhinion", "mid_philtrum", "upper_lip_margin",
                "lower_lip_margin", "chin_lip_fold", "mental_eminence", "beneath_chin",
                "frontal_eminence", "supraorbital", "suborbital", "inferior_malar", "lateral_orbit",
                "zygomatic_arch", "supraglenoid", "gonion", "supra_m2", "mid_masseter",
                "occlusal_line", "sub_m2", "metopion"):
        d = table.landmarks[key]
        assert 1.0 < d.male < 40.0 and 1.0 < d.female < 40.0, key
        assert d.location.strip(), key
    assert table.landmarks["rhinion"].male < table.landmarks["glabella"].male
    assert table.layers["dermis_upper_medial_eyelid"].value == pytest.approx(0.76)
    assert table.layers["dermis_lower_nasal_sidewall"].value == pytest.approx(1.97)


# --------------------------------------------------------------------------- broken files

GOOD_ENTRY = {
    "kind": "muscle",
    "bilateral": True,
    "layer": "muscle",
    "name": "Test muscle",
    "colour": "#aa0000",
    "action": "moves",
    "weakened": "stops moving",
    "treated_for": "",
    "spare": False,
    "sources": ["Someone, Journal 2000"],
    "facts": [{"what": "depth", "value": 3.0, "unit": "mm", "source": "Someone 2000",
               "confidence": "R"}],
}


def _write(tmp_path: Path, entries: dict, name: str = "structures.yaml") -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump({"version": 1, "structures": entries}), encoding="utf-8")
    return p


def test_good_tmp_file_loads(tmp_path: Path) -> None:
    out = metadata.parse_structures(_write(tmp_path, {"test_muscle": GOOD_ENTRY}))
    assert set(out) == {"test_muscle_left", "test_muscle_right"}
    assert out["test_muscle_left"].fact("depth").value == 3.0


@pytest.mark.parametrize(
    ("change", "pattern"),
    [
        ({"name": None}, "missing|must be text"),
        ({"colour": "red"}, "colour"),
        ({"colour": "#12345"}, "colour"),
        ({"kind": "tendon"}, "kind"),
        ({"layer": "dermis"}, "layer"),
        ({"sources": []}, "sources"),
        ({"spare": "yes"}, "spare"),
        ({"bogus": 1}, "unknown field"),
        ({"facts": [{"what": "depth", "value": "deep", "unit": "mm", "source": "x",
                     "confidence": "R"}]}, "value"),
        ({"facts": [{"what": "depth", "value": 1, "unit": "mm", "source": "x",
                     "confidence": "Q"}]}, "confidence"),
    ],
)
def test_broken_entry_names_file_and_entry(tmp_path: Path, change: dict, pattern: str) -> None:
    entry = dict(GOOD_ENTRY)
    for key, val in change.items():
        if val is None:
            entry.pop(key)
        else:
            entry[key] = val
    path = _write(tmp_path, {"fine_muscle": GOOD_ENTRY, "broken_muscle": entry})
    with pytest.raises(MetadataError) as info:
        metadata.parse_structures(path)
    msg = str(info.value)
    assert "structures.yaml" in msg and "broken_muscle" in msg
    assert re.search(pattern, msg), msg


def test_missing_field_is_named(tmp_path: Path) -> None:
    entry = {k: v for k, v in GOOD_ENTRY.items() if k != "weakened"}
    with pytest.raises(MetadataError, match=r"structure 'x_muscle'.*missing field\(s\) weakened"):
        metadata.parse_structures(_write(tmp_path, {"x_muscle": entry}))


def test_duplicate_keys_rejected(tmp_path: Path) -> None:
    p = tmp_path / "structures.yaml"
    p.write_text("version: 1\nstructures:\n  a: {}\n  a: {}\n", encoding="utf-8")
    with pytest.raises(MetadataError, match="duplicate key"):
        metadata.parse_structures(p)


def test_bad_yaml_and_missing_file(tmp_path: Path) -> None:
    p = tmp_path / "structures.yaml"
    p.write_text("version: 1\nstructures: [unclosed\n", encoding="utf-8")
    with pytest.raises(MetadataError, match="invalid YAML"):
        metadata.parse_structures(p)
    with pytest.raises(MetadataError, match="cannot read"):
        metadata.parse_structures(tmp_path / "absent.yaml")


def test_broken_anthropometry_names_entry(tmp_path: Path) -> None:
    p = tmp_path / "anthropometry.yaml"
    p.write_text(yaml.safe_dump({"version": 1, "measurements": {"en_en": {
        "name": "intercanthal width", "landmarks": ["endocanthion_left", "nowhere"],
        "male_mean": 33.0, "male_sd": 2.0, "female_mean": 32.0, "female_sd": 2.0,
        "source": "x", "confidence": "M"}}}), encoding="utf-8")
    with pytest.raises(MetadataError, match=r"anthropometry.yaml: measurement 'en_en'.*nowhere"):
        metadata.parse_anthropometry(p)


def test_broken_tissue_depth_names_entry(tmp_path: Path) -> None:
    p = tmp_path / "tissue_depth.yaml"
    p.write_text(yaml.safe_dump({
        "version": 1,
        "landmarks": {"glabella": {"name": "glabella", "midline": True, "location": "here",
                                   "values": [{"source": "x", "confidence": "M", "male": -1,
                                               "female": 5}]}},
        "layers": {"skin": {"layer": "skin", "region": "face", "value": 1.0, "unit": "mm",
                            "source": "x", "confidence": "R"}},
    }), encoding="utf-8")
    with pytest.raises(MetadataError, match=r"tissue_depth.yaml: landmark 'glabella'.*male"):
        metadata.parse_tissue_depth(p)


# --------------------------------------------------------------------------- declarative models


def test_every_broken_entry_is_listed(tmp_path: Path) -> None:
    bad_colour = dict(GOOD_ENTRY, colour="red")
    no_weakened = {k: v for k, v in GOOD_ENTRY.items() if k != "weakened"}
    path = _write(tmp_path, {"a_muscle": bad_colour, "b_muscle": no_weakened})
    with pytest.raises(MetadataError) as info:
        metadata.parse_structures(path)
    msg = str(info.value)
    assert "structure 'a_muscle': field 'colour'" in msg
    assert "structure 'b_muscle': missing field(s) weakened" in msg


def test_duplicate_fact_is_rejected(tmp_path: Path) -> None:
    fact = GOOD_ENTRY["facts"][0]
    path = _write(tmp_path, {"x_muscle": dict(GOOD_ENTRY, facts=[fact, fact])})
    with pytest.raises(MetadataError, match="duplicate fact 'depth'"):
        metadata.parse_structures(path)


def _geometry() -> dict:
    from injectmap.anatomy.fields import DATA

    return yaml.safe_load((DATA / "geometry.yaml").read_text(encoding="utf-8"))


def _geometry_errors(geo: dict) -> str:
    from injectmap.anatomy.datamodel import DataFileError, validate_data
    from injectmap.anatomy.geometry_file import GeometryFile

    with pytest.raises(DataFileError) as info:
        validate_data(geo, GeometryFile, "geometry.yaml")
    return str(info.value)


def test_shipped_geometry_matches_its_model() -> None:
    from injectmap.anatomy.fields import load_geometry

    assert load_geometry() == _geometry()  # validated, and handed over unchanged


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda g: g["tubes"]["facial_artery"].pop("radius_mm"), "tubes.facial_artery.radius_mm"),
        (lambda g: g["tubes"]["facial_artery"].update(radius=1.0), "tubes.facial_artery.radius"),
        (lambda g: g["muscles"]["frontalis"].update(thicknes_mm=2), "muscles.frontalis.sheet.thicknes_mm"),
        (lambda g: g["muscles"]["frontalis"].update(type="blob"), "muscles.frontalis"),
        (lambda g: g["chart"].pop("radius_mm"), "chart.radius_mm"),
        (lambda g: g["layers"]["bone_depth"][0].update(depth_mm=3.0), "layers.bone_depth[0]"),
        (lambda g: g["orbit"].update(semi_axes_mm=[1, 2]), "orbit.semi_axes_mm[2]"),
        (lambda g: g.update(version=2), "version"),
    ],
)
def test_wrong_or_missing_geometry_key_fails_at_load(mutate, where: str) -> None:
    geo = _geometry()
    mutate(geo)
    assert f"{where}:" in _geometry_errors(geo)


def test_tube_line_fractions_and_depths_must_pair() -> None:
    geo = _geometry()
    name, spec = next((k, s) for k, s in geo["tubes"].items() if "line" in s)
    spec["line"]["depth_mm"] = spec["line"]["depth_mm"][:-1]
    assert "same length" in _geometry_errors(geo) and name in _geometry_errors(geo)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"weights": [0.5, 0.5, 0.5]}, "weights must sum to 1"),
        ({"vertices": [1, 2]}, "vertices"),
        ({"at": "alare"}, "at"),  # a landmark's offset or a base-mesh point, not both
    ],
)
def test_a_base_mesh_waypoint_is_checked(change: dict, message: str) -> None:
    geo = _geometry()
    way = geo["tubes"]["angular_artery"]["path"][0]
    assert "base" in way  # the angular artery's lower waypoints ride on the base mesh
    if "at" in change:
        way.update(change)
    else:
        way["base"].update(change)
    err = _geometry_errors(geo)
    assert "tubes.angular_artery.path[0]" in err and message in err
