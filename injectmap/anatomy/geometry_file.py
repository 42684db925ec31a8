"""The declarative model of ``anatomy/data/geometry.yaml``, checked when the file is read.

Every key the builder (anatomy.build, anatomy.fields, anatomy.model) indexes is declared here with
its type, and unknown keys are errors: a misspelt ``thicknes_mm`` or a missing ``radius_mm`` stops
the load with the key path, instead of a ``KeyError`` (or a silently ignored key) halfway through a
20-second build. The builder still receives the file's plain dict (the model changes no number).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt, model_validator

from injectmap.anatomy.datamodel import DataModel

__all__ = ["GeometryFile"]

Vec3 = tuple[float, float, float]
Projection = Literal["front", "side", "nearest", "none"]
Layer = Literal["subcutaneous_fat", "smas", "deep"]


class _BelowSkin(DataModel):
    """A tube's waypoint lies below its skin point either at ``depth_mm`` or in one of the face's ``layer``s
    (``subcutaneous_fat``: below the skin to the fat's floor; ``smas``: the SMAS, above the zygomatic arch the
    temporoparietal fascia and galea that continue it; ``deep``: from the SMAS to the bone), ``layer_fraction`` of
    the way down that layer at that skin point, so the depth follows the face's layers."""

    depth_mm: float | None = None
    layer: Layer | None = None
    layer_fraction: float = Field(default=0.5, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _one_depth_rule(self) -> _BelowSkin:
        if self.layer is not None and self.depth_mm is not None:
            raise ValueError("give at most one of depth_mm and layer")
        return self


class Anchor(_BelowSkin):
    """A landmark (of the built side when bilateral) moved by ``offset`` [lateral, superior, anterior]; as a
    tube's waypoint, below its skin point (:class:`_BelowSkin`)."""

    at: str
    offset: Vec3 = (0.0, 0.0, 0.0)
    project: Projection = "nearest"
    side: Literal["left", "right", "both"] | None = None

    @model_validator(mode="after")
    def _layer_needs_skin(self) -> Anchor:
        if self.layer is not None and self.project == "none":
            raise ValueError("a waypoint in a layer needs a skin point (project: front, side or nearest)")
        return self


class MeshPoint(DataModel):
    """A point of the hm08 base mesh: barycentric ``weights`` on three ``vertices`` (given for the left side)."""

    vertices: tuple[NonNegativeInt, NonNegativeInt, NonNegativeInt]
    weights: tuple[NonNegativeFloat, NonNegativeFloat, NonNegativeFloat]

    @model_validator(mode="after")
    def _weights_sum(self) -> MeshPoint:
        if abs(sum(self.weights) - 1.0) > 1e-3:
            raise ValueError(f"weights must sum to 1, not {sum(self.weights):.4f}")
        return self


class MeshWaypoint(_BelowSkin):
    """A tube's waypoint whose skin point is a point of the base mesh (``base``, mirrored for the right side),
    so it moves with the skin as shape targets and fits move it (where a landmark's offset projected onto a
    steep surface would move more than the face does)."""

    base: MeshPoint


class Ellipse(DataModel):
    """An outline drawn in the frontal plane: radii [lateral, medial, superior, inferior]."""

    centre: Anchor
    radii_mm: tuple[PositiveFloat, PositiveFloat, PositiveFloat, PositiveFloat]
    n: PositiveInt = 32
    project: Projection = "front"


Outline = Annotated[list[Anchor], Field(min_length=3)] | Ellipse


class SheetPart(DataModel):
    """One part of a sheet: an outline (and hole) on the skin chart, between two depths or on the bone."""

    outline: Outline | None = None
    hole: Outline | None = None
    depth_mm: tuple[NonNegativeFloat, NonNegativeFloat] | None = None
    anchor: Literal["bone", "skin"] | None = None
    depth_from_bone_mm: tuple[NonNegativeFloat, NonNegativeFloat] | None = None
    thickness_mm: PositiveFloat | None = None


class Tendon(DataModel):
    """A band joined to a sheet (the temporalis tendon under the arch onto the coronoid)."""

    path: list[Anchor] = Field(min_length=2)
    width_mm: PositiveFloat
    thickness_mm: PositiveFloat
    source: str


class Sheet(SheetPart):
    """A sheet muscle or gland: its own outline, or ``parts`` whose union is the volume."""

    type: Literal["sheet"]
    source: str
    tendon: Tendon | None = None
    #: False: the edges are not free (a deep layer under another muscle's part), no taper
    taper: bool = True
    #: also the tissue within [a, b] mm of a pocket's lining (the mouth's), at least ``lining_min_depth_mm``
    #: below the skin, inside the outline
    lining_mm: tuple[NonNegativeFloat, NonNegativeFloat] | None = None
    lining_min_depth_mm: NonNegativeFloat = 0.0
    parts: list[SheetPart] | None = Field(default=None, min_length=1)
    midline: bool = False
    scales_with: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> Sheet:
        for i, part in enumerate(self.parts or [self]):
            where = f"parts[{i}]" if self.parts else "the sheet"
            if part.outline is None:
                raise ValueError(f"{where} has no outline")
            if (part.anchor or self.anchor) == "bone":
                if (part.depth_from_bone_mm or self.depth_from_bone_mm or part.thickness_mm
                        or self.thickness_mm) is None:
                    raise ValueError(f"{where}: on the bone it needs depth_from_bone_mm or thickness_mm")
            elif (part.depth_mm or self.depth_mm) is None:
                raise ValueError(f"{where}: needs depth_mm [top, bottom] (or anchor: bone)")
        return self


class Band(DataModel):
    """A band muscle: a centreline (``path``) with a width and a thickness."""

    type: Literal["band"]
    source: str
    path: list[Anchor] = Field(min_length=2)
    width_mm: PositiveFloat
    thickness_mm: PositiveFloat
    midline: bool = False
    scales_with: str | None = None


class Line(DataModel):
    """A tube's centreline as a straight line between two anchors, sampled at ``fractions``."""

    from_: str = Field(alias="from")
    to: str | None = None
    to_midpoint_of: list[str] | None = Field(default=None, min_length=1)
    from_offset: Vec3 | None = None
    to_offset: Vec3 | None = None
    fractions: list[float] = Field(min_length=2)
    depth_mm: list[float] = Field(min_length=2)

    @model_validator(mode="after")
    def _consistent(self) -> Line:
        if (self.to is None) == (self.to_midpoint_of is None):
            raise ValueError("give exactly one of `to` and `to_midpoint_of`")
        if len(self.fractions) != len(self.depth_mm):
            raise ValueError(f"fractions ({len(self.fractions)}) and depth_mm ({len(self.depth_mm)}) "
                             "must have the same length")
        return self


class Tube(DataModel):
    """An artery, nerve or duct: a centreline (``path`` or ``line``) and a radius."""

    kind: Literal["artery", "nerve", "duct"]
    source: str
    radius_mm: PositiveFloat
    path: list[Anchor | MeshWaypoint] | None = Field(default=None, min_length=2)
    line: Line | None = None

    @model_validator(mode="after")
    def _one_centreline(self) -> Tube:
        if (self.path is None) == (self.line is None):
            raise ValueError("give exactly one of `path` and `line`")
        return self


class Orbit(DataModel):
    """The orbital contents: an ellipsoid cut by a frontal plane."""

    centre: Anchor
    semi_axes_mm: tuple[PositiveFloat, PositiveFloat, PositiveFloat]
    front_plane_offset_mm: float
    source: str


class Sourced(DataModel):
    """A number with its source."""

    value: float
    source: str


class FatFraction(Sourced):
    """The fat's share of the skin-to-bone depth, with a floor."""

    min_mm: NonNegativeFloat


class BoneDepthPoint(Anchor):
    """A control point of the skin-to-bone depth: a tissue-depth table entry or an explicit depth."""

    table: str | None = None
    source: str | None = None

    @model_validator(mode="after")
    def _one_depth(self) -> BoneDepthPoint:
        if (self.table is None) == (self.depth_mm is None):
            raise ValueError("give exactly one of `table` and `depth_mm`")
        return self


class Layers(DataModel):
    """The layer model's constants and the bone-depth control points."""

    skin_thickness_mm: Sourced
    fat_fraction: FatFraction
    smas_thickness_mm: Sourced
    default_bone_depth_mm: Sourced
    kernel_sigma_mm: Sourced
    bone_depth: list[BoneDepthPoint] = Field(min_length=1)


class BrowVariant(DataModel):
    """The brow-height variant's morph targets."""

    targets: dict[Literal["up", "down"], str]
    source: str


class MasseterVariant(DataModel):
    """The masseter-size variant's scales and skin bulge."""

    scale_at_plus_one: PositiveFloat
    scale_at_minus_one: PositiveFloat
    bulge_sigma_mm: PositiveFloat
    source: str


class Variants(DataModel):
    """Face variants beyond the base mesh's own."""

    brow: BrowVariant
    masseter: MasseterVariant


class ShapeTarget(DataModel):
    """A CC0 shape target of the base mesh and its weight."""

    target: str
    weight: float = Field(ge=-1.0, le=1.0)


class BaseShape(DataModel):
    """Shape targets applied to every face (corrections of the base head)."""

    targets: list[ShapeTarget]
    source: str


class SheetShaping(DataModel):
    """How sheet outlines are rounded and their edges thinned, and how far inside the body every
    structure is kept."""

    outline_smoothing_passes: int = Field(ge=0, le=6)
    taper_mm: PositiveFloat
    edge_fraction: float = Field(gt=0.0, le=1.0)
    body_margin_mm: NonNegativeFloat
    source: str


class Chart(DataModel):
    """The cylindrical skin chart: axis depth and radius."""

    axis_z_mm: float
    radius_mm: PositiveFloat


Muscle = Annotated[Sheet | Band, Field(discriminator="type")]


class GeometryFile(DataModel):
    """geometry.yaml, version 1."""

    version: Literal[1]
    chart: Chart
    layers: Layers
    muscles: dict[str, Muscle]
    glands: dict[str, Sheet]
    tubes: dict[str, Tube]
    orbit: Orbit
    variants: Variants
    shape: BaseShape
    sheets: SheetShaping
