"""The planning and teaching data files are checked against their models when read."""

from __future__ import annotations

import copy

import pytest

from injectmap.anatomy.datamodel import DataFileError, validate_data
from injectmap.planning.datafiles import load_data, load_model
from injectmap.planning.diffusion import DiffusionFile
from injectmap.planning.doses import DoseRangesFile
from injectmap.planning.products import ProductsFile
from injectmap.teaching.education import EducationFile
from injectmap.teaching.training import TrainingHintsFile

FILES = [
    ("products.yaml", ProductsFile, "injectmap.planning"),
    ("dose_ranges.yaml", DoseRangesFile, "injectmap.planning"),
    ("diffusion.yaml", DiffusionFile, "injectmap.planning"),
    ("education.yaml", EducationFile, "injectmap.teaching"),
    ("training_hints.yaml", TrainingHintsFile, "injectmap.teaching"),
]


@pytest.mark.parametrize(("name", "model", "package"), FILES)
def test_shipped_files_match_their_models(name, model, package):
    assert isinstance(load_model(name, model, package), model)


def _errors(name: str, model, package: str, mutate) -> str:
    raw = copy.deepcopy(load_data(name, package))
    mutate(raw)
    with pytest.raises(DataFileError) as info:
        validate_data(raw, model, name)
    assert info.value.errors
    return str(info.value)


@pytest.mark.parametrize(
    ("name", "model", "package", "mutate", "fragment"),
    [
        ("products.yaml", ProductsFile, "injectmap.planning",
         lambda d: d["products"]["onabotulinumtoxinA"].pop("vial_units"), "products.onabotulinumtoxinA.vial_units"),
        ("products.yaml", ProductsFile, "injectmap.planning",
         lambda d: d["products"]["onabotulinumtoxinA"].update(vial_unit=[100]), "vial_unit"),
        ("products.yaml", ProductsFile, "injectmap.planning",
         lambda d: d.update(reference_product="botox"), "reference_product 'botox'"),
        ("dose_ranges.yaml", DoseRangesFile, "injectmap.planning",
         lambda d: d["muscles"]["procerus"].update(low=50), "low <= typical <= high"),
        ("dose_ranges.yaml", DoseRangesFile, "injectmap.planning",
         lambda d: d["muscles"]["procerus"].update(per="both"), "muscles.procerus.per"),
        ("diffusion.yaml", DiffusionFile, "injectmap.planning",
         lambda d: d["model"]["max_radius_mm"].pop("value"), "model.max_radius_mm.value"),
        ("diffusion.yaml", DiffusionFile, "injectmap.planning",
         lambda d: d["products"]["abobotulinumtoxinA"].update(radius_factr=1.2), "radius_factr"),
        ("education.yaml", EducationFile, "injectmap.teaching",
         lambda d: d["muscles"]["procerus"].update(area="nowhere"), "unknown area 'nowhere'"),
        ("education.yaml", EducationFile, "injectmap.teaching",
         lambda d: d["timeline"].pop("touch_up_day"), "timeline.touch_up_day"),
        ("training_hints.yaml", TrainingHintsFile, "injectmap.teaching",
         lambda d: d.pop("default"), "default"),
    ],
)
def test_wrong_or_missing_key_is_named(name, model, package, mutate, fragment):
    assert fragment in _errors(name, model, package, mutate)


def test_every_problem_is_listed():
    def two(d):
        d["products"]["onabotulinumtoxinA"].pop("default")
        d["products"]["incobotulinumtoxinA"]["ona_equivalence"]["low"] = "one"

    msg = _errors("products.yaml", ProductsFile, "injectmap.planning", two)
    assert "2 errors" in msg and "onabotulinumtoxinA.default" in msg and "incobotulinumtoxinA.ona_equivalence.low" in msg
