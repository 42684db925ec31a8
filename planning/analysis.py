"""Per-point and per-plan analysis against the face model: placement, tip location, target reach,
neighbours in reach, named safety rules, dose totals. Pure: no rendering, no web.

Conventions: mm in the CONTRACTS frame; ``distance_mm`` of a sphere finding is from the sphere's
surface to the structure (negative: the sphere reaches into it by that much); of a needle finding,
from the tip.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from anatomy.ids import base_of, side_of
from planning.datafiles import load_data
from planning.diffusion import point_radius
from planning.doses import dose_group_of, dose_range, max_total
from planning.plan import Plan, Point

SEVERITY_ORDER = {"info": 1, "caution": 2, "danger": 3}


class PlacementError(ValueError):
    """A point cannot be placed on this model (e.g. its entry lies too far from the skin)."""


@lru_cache(maxsize=1)
def rules() -> dict[str, Any]:
    """The named rules' thresholds and sources (``planning/data/rules.yaml``), read once; treat as
    read-only."""
    return load_data("rules.yaml")


@dataclass
class Placed:
    entry_mm: np.ndarray
    tip_mm: np.ndarray
    depth_mm: float
    normal: np.ndarray


def _lm(model, name: str) -> np.ndarray:
    return np.asarray(model.landmarks[name], dtype=float)


def entry_of(model, point: Point) -> np.ndarray:
    """The skin entry of a point: landmark plus offsets, or ``entry_mm``, snapped to the skin."""
    pl = point.placement
    if pl.entry_mm is not None:
        raw = np.asarray(pl.entry_mm, dtype=float)
        snapped, _ = model.skin_point(raw)
        if np.linalg.norm(snapped - raw) > 15.0:
            raise PlacementError(
                f"point {point.id!r}: entry_mm is {np.linalg.norm(snapped - raw):.1f} mm "
                "from the skin (at most 15 mm)"
            )
        return snapped
    p = _lm(model, pl.landmark).copy()
    s = side_of(pl.landmark)
    sign = -1.0 if s == "right" else 1.0
    p[1] += pl.superior_mm or 0.0
    p[2] += pl.anterior_mm or 0.0
    if pl.lateral_mm:
        p[0] += sign * pl.lateral_mm
    if pl.left_mm:
        p[0] += pl.left_mm
    q, _ = model.skin_point(p)  # CONTRACTS: the skin point nearest to the moved landmark
    return q


def place(model, point: Point) -> Placed:
    entry = entry_of(model, point)
    _, n = model.skin_point(entry)
    if point.tip_mm is not None:
        tip = np.asarray(point.tip_mm, dtype=float)
        return Placed(entry, tip, float(np.linalg.norm(tip - entry)), n)
    depth = float(point.depth_mm or 0.0)
    if point.direction is not None:
        d = np.asarray(point.direction, dtype=float)
        d /= np.linalg.norm(d)
    elif point.angle_deg is not None and point.toward:
        toward = _lm(model, point.toward) - entry
        inward = -n
        t = toward - (toward @ inward) * inward
        if np.linalg.norm(t) < 1e-9:
            d = inward
        else:
            t /= np.linalg.norm(t)
            a = np.radians(point.angle_deg)
            d = np.cos(a) * inward + np.sin(a) * t
    else:
        d = -n
    return Placed(entry, entry + d * depth, depth, n)


def _finding(
    severity: str,
    code: str,
    message: str,
    structure: str | None = None,
    distance: float | None = None,
    closest: np.ndarray | None = None,
    rule: str = "",
) -> dict:
    f: dict[str, Any] = {"severity": severity, "code": code}
    if structure is not None:
        f["structure"] = structure
    if distance is not None:
        f["distance_mm"] = round(float(distance), 2)
    if closest is not None:
        f["closest_mm"] = [round(float(x), 2) for x in closest]
    f["message"] = message
    if rule:
        f["rule"] = rule
    return f


def tip_layer(model, tip: np.ndarray, inside: list[str]) -> str:
    kinds = {model.structures[s].kind for s in inside}
    if any(s.startswith("orbit_") for s in inside):
        return "orbit"
    for k in ("artery", "nerve", "duct", "gland", "muscle"):
        if k in kinds:
            return k
    d, i = model.depth_below_skin(tip[None])
    d, i = float(d[0]), int(i[0])
    if d < 0:
        return "outside"
    if d < model.skin_thickness_mm:
        return "skin"
    if d < model.layer_fat_mm[i]:
        return "subcutaneous_fat"
    if d < model.layer_smas_mm[i]:
        return "smas"
    if d < model.layer_bone_mm[i]:
        return "deep"
    return "bone"


def _brow_height(model, entry: np.ndarray) -> float:
    """Height of a forehead entry above the brow line (head, peak, tail) at the same x."""
    s = "left" if entry[0] >= 0 else "right"
    xs, ys = [], []
    for n in ("brow_medial", "brow_peak", "brow_lateral"):
        p = _lm(model, f"{n}_{s}")
        xs.append(abs(p[0]))
        ys.append(p[1])
    order = np.argsort(xs)
    y_brow = np.interp(abs(entry[0]), np.asarray(xs)[order], np.asarray(ys)[order])
    return float(entry[1] - y_brow)


def analyse_point(model, plan: Plan, point: Point) -> dict[str, Any]:
    """Analyse one point: the CONTRACTS ``points[]`` entry."""
    R = rules()
    placed = place(model, point)
    tip = placed.tip_mm
    eff = point_radius(plan, point)
    r_nom, r_in, r_out = eff.nominal_mm, eff.inner_mm, eff.outer_mm
    idx = model.index
    inside = idx.containing(tip)
    near = idx.neighbours(tip, r_out + 2.0)
    target = point.target
    findings: list[dict] = []

    # where the tip is
    tip_in = None
    for pref in ("artery", "nerve", "duct", "orbit", "gland", "muscle"):
        for s in inside:
            k = model.structures[s].kind
            if (pref == "orbit" and s.startswith("orbit_")) or (k == pref and not s.startswith("orbit_")):
                if tip_in is None or (s == target):
                    tip_in = s
    if target in inside:
        tip_in = target
    target_hit = bool(target is not None and target in inside)
    overlap = 0.0
    reached = False
    if target is not None:
        nb = near.get(target)
        if target_hit or (nb is not None and nb.distance_mm < r_nom):
            overlap = idx.sphere_fractions(tip, r_nom, [target])[target]
            reached = overlap > 0.0 or target_hit
    sev_rules = R
    for s in inside:
        st = model.structures[s]
        if s == target:
            continue
        if st.kind in ("artery", "nerve", "duct"):
            what = {
                "artery": "an intravascular injection and a haematoma",
                "nerve": "needle trauma to the nerve",
                "duct": "injury to the parotid duct",
            }[st.kind]
            findings.append(
                _finding(
                    "danger",
                    f"tip_in_{st.kind}",
                    f"The needle tip lies inside {st.name}: risk of {what}. {st.weakened}",
                    s,
                    near[s].distance_mm if s in near else 0.0,
                    near[s].closest_mm if s in near else tip,
                    "tip_in_structure",
                )
            )
        elif s.startswith("orbit_") or base_of(s) == "levator_palpebrae_superioris":
            findings.append(
                _finding(
                    "danger",
                    "tip_in_orbit",
                    f"The needle tip lies behind the orbital septum in {st.name}: {st.weakened}",
                    s,
                    near[s].distance_mm if s in near else 0.0,
                    near[s].closest_mm if s in near else tip,
                    "tip_in_structure",
                )
            )
        elif st.kind == "gland":
            findings.append(
                _finding(
                    "caution",
                    "tip_in_gland",
                    f"The needle tip lies in {st.name}, not in a muscle: {st.weakened}",
                    s,
                    near[s].distance_mm if s in near else 0.0,
                    near[s].closest_mm if s in near else tip,
                    "tip_in_structure",
                )
            )
        elif st.kind == "muscle" and st.spare and target is not None:
            findings.append(
                _finding(
                    "caution",
                    "tip_in_spared_muscle",
                    f"The needle tip lies in {st.name} instead of the target: {st.weakened}",
                    s,
                    near[s].distance_mm if s in near else 0.0,
                    near[s].closest_mm if s in near else tip,
                    "tip_in_structure",
                )
            )
    # needle near vessels, nerves and the duct
    nn = sev_rules["needle_near"]
    for s, nb in near.items():
        st = model.structures[s]
        if s in inside or st.kind not in ("artery", "nerve", "duct"):
            continue
        lim = {"artery": nn["artery_mm"], "nerve": nn["nerve_mm"], "duct": nn["duct_mm"]}[st.kind]
        if nb.distance_mm < lim:
            findings.append(
                _finding(
                    "caution",
                    f"needle_near_{st.kind}",
                    f"The needle tip is {nb.distance_mm:.1f} mm from {st.name}: {st.weakened}",
                    s,
                    nb.distance_mm,
                    nb.closest_mm,
                    "needle_near",
                )
            )
    # diffusion sphere against structures to spare
    for s, nb in near.items():
        st = model.structures[s]
        if s == target or s in inside or not st.spare or st.kind not in ("muscle", "layer", "gland"):
            continue
        d_nom = nb.distance_mm - r_nom
        d_out = nb.distance_mm - r_out
        if d_nom < 0:
            frac = idx.sphere_fractions(tip, r_nom, [s])[s]
            findings.append(
                _finding(
                    "caution",
                    "sphere_near_structure",
                    f"The likely field of effect ({r_nom:.0f} mm) reaches {st.name} "
                    f"({frac:.0%} of the sphere): {st.weakened}",
                    s,
                    d_nom,
                    nb.closest_mm,
                    "sphere_spared",
                )
            )
        elif d_out < 0:
            findings.append(
                _finding(
                    "info",
                    "sphere_may_reach_structure",
                    f"The outer, possible field of effect ({r_out:.0f} mm) may reach {st.name}: "
                    f"{st.weakened}",
                    s,
                    d_out,
                    nb.closest_mm,
                    "sphere_spared",
                )
            )
        if (s.startswith("orbit_") or base_of(s) == "levator_palpebrae_superioris") and nb.distance_mm < R[
            "sphere_spared"
        ]["septum_mm"]:
            findings.append(
                _finding(
                    "danger",
                    "tip_at_septum",
                    f"The needle tip is {nb.distance_mm:.1f} mm from {st.name}, at the orbital "
                    f"septum: {st.weakened}",
                    s,
                    nb.distance_mm,
                    nb.closest_mm,
                    "sphere_spared",
                )
            )
    findings += _region_rules(model, point, placed, near, inside, r_nom)
    if target is not None and not reached:
        findings.append(
            _finding(
                "caution",
                "target_not_reached",
                f"The field of effect ({r_nom:.0f} mm) does not reach the intended target "
                f"{model.structures[target].name}: check the position and depth.",
                target,
                near[target].distance_mm - r_nom if target in near else None,
                near[target].closest_mm if target in near else None,
                "target",
            )
        )
    findings.sort(key=lambda f: (-SEVERITY_ORDER[f["severity"]], f.get("distance_mm", 0.0)))
    return {
        "id": point.id,
        "entry_mm": [round(float(x), 3) for x in placed.entry_mm],
        "tip_mm": [round(float(x), 3) for x in tip],
        "depth_mm": round(placed.depth_mm, 3),
        "layer": tip_layer(model, tip, inside),
        "tip_in": tip_in,
        "target": target,
        "target_hit": target_hit,
        "target_reached": bool(reached),
        "target_overlap": round(float(overlap), 4),
        "units": float(point.units),
        "volume_ml": round(float(plan.volume_ml_of(point)), 4),
        "radius_mm": round(float(r_nom), 2),
        "radius_inner_mm": round(float(r_in), 2),
        "radius_outer_mm": round(float(r_out), 2),
        "session": point.session_id,
        "findings": findings,
    }


def _region_rules(model, point: Point, placed: Placed, near, inside, r_nom: float) -> list[dict]:
    R = rules()
    out: list[dict] = []
    entry, tip = placed.entry_mm, placed.tip_mm
    target = point.target or ""
    tb = base_of(target) if target else ""
    side = "left" if entry[0] >= 0 else "right"
    in_frontalis = f"frontalis_{side}" in near and near[f"frontalis_{side}"].distance_mm < r_nom
    # frontalis well above the brow
    if tb == "frontalis" or (not target and in_frontalis and entry[1] > _lm(model, f"brow_peak_{side}")[1]):
        h = _brow_height(model, entry)
        lim = R["frontalis_above_brow"]["min_mm"]
        if h < lim:
            out.append(
                _finding(
                    "caution",
                    "frontalis_low",
                    f"This frontalis point is {h:.0f} mm above the brow "
                    f"(keep at least {lim:.0f} mm): weakening the lowest frontalis fibres drops the "
                    "brow (brow ptosis) and makes it feel heavy.",
                    f"frontalis_{side}",
                    h - lim,
                    None,
                    "frontalis_above_brow",
                )
            )
    # lateral orbicularis outside the orbital rim
    rim_l = _lm(model, f"orbital_rim_lateral_{side}")
    ex = _lm(model, f"exocanthion_{side}")
    if abs(entry[0]) > abs(ex[0]) - 5 and abs(entry[1] - ex[1]) < 25:
        lateral = abs(entry[0]) - abs(rim_l[0])
        lim = R["lateral_orbit_margin"]["min_mm"]
        if lateral < lim:
            out.append(
                _finding(
                    "caution",
                    "lateral_orbit_margin",
                    f"This point is {max(lateral, 0):.0f} mm outside "
                    f"the lateral orbital rim (keep about {lim:.0f} mm): toxin can spread into the orbit "
                    "(lateral rectus: double vision) or the lower lid (lid laxity, festoons).",
                    f"orbit_{side}",
                    lateral - lim,
                    rim_l,
                    "lateral_orbit_margin",
                )
            )
    # glabellar and corrugator points above the rim
    rim_s = _lm(model, f"orbital_rim_superior_{side}")
    if tb in ("corrugator_supercilii", "procerus") or (not target and abs(entry[0]) < abs(rim_s[0]) + 8):
        if abs(entry[0]) > abs(rim_s[0]) - 8:
            above = entry[1] - rim_s[1]
            lim = R["rim_margin"]["min_mm"]
            if above < lim:
                out.append(
                    _finding(
                        "caution",
                        "rim_margin",
                        f"This point is {above:.0f} mm above the supraorbital "
                        f"rim at the mid-pupillary line (keep at least {lim:.0f} mm): toxin can pass the "
                        "septum to levator palpebrae superioris and drop the lid (ptosis).",
                        f"levator_palpebrae_superioris_{side}",
                        above - lim,
                        rim_s,
                        "rim_margin",
                    )
                )
    # masseter safe zone
    if tb in ("masseter_superficial", "masseter_deep"):
        tr, ch, go = (
            _lm(model, f"tragion_{side}"),
            _lm(model, f"cheilion_{side}"),
            _lm(model, f"gonion_{side}"),
        )
        t = (entry[2] - tr[2]) / (ch[2] - tr[2])
        y_line = tr[1] + t * (ch[1] - tr[1])
        if entry[1] > y_line:
            out.append(
                _finding(
                    "caution",
                    "masseter_above_safe_zone",
                    f"This masseter point is "
                    f"{entry[1] - y_line:.0f} mm above the line from the tragus to the mouth corner: "
                    "the parotid gland and duct, the transverse facial artery and the zygomatic and "
                    "buccal nerve branches lie there.",
                    f"parotid_duct_{side}",
                    y_line - entry[1],
                    None,
                    "masseter_safe_zone",
                )
            )
        fa = model.structures[f"facial_artery_{side}"].centreline
        lowest = fa[np.argmin(np.abs(fa[:, 1] - entry[1]))]
        behind = lowest[2] - entry[2]
        lim = R["masseter_safe_zone"]["behind_anterior_border_mm"]
        if behind < lim:
            out.append(
                _finding(
                    "caution",
                    "masseter_anterior_border",
                    f"This point is {behind:.0f} mm behind the "
                    "anterior border of the masseter (keep at least 10 mm): the facial artery and "
                    "risorius lie there (bruise, a narrow or lopsided smile).",
                    f"facial_artery_{side}",
                    behind - lim,
                    lowest,
                    "masseter_safe_zone",
                )
            )
        if entry[1] < go[1] - 3:
            out.append(
                _finding(
                    "caution",
                    "masseter_below_border",
                    "This point is below the mandibular border: "
                    "there is no masseter there, only the platysma, the marginal mandibular nerve and "
                    "the submandibular gland.",
                    f"facial_nerve_marginal_mandibular_branch_{side}",
                    float(entry[1] - go[1]),
                    None,
                    "masseter_safe_zone",
                )
            )
        ms = f"masseter_superficial_{side}"
        if (
            ms in near
            and near[ms].distance_mm > 0
            and (
                model.depth_below_skin(tip[None])[0][0]
                < model.depth_below_skin(near[ms].closest_mm[None])[0][0]
            )
        ):
            out.append(
                _finding(
                    "caution",
                    "masseter_too_shallow",
                    "The tip is superficial to the masseter: a "
                    "shallow injection reaches risorius (a narrow, lopsided smile); go deep, near "
                    "the bone.",
                    f"risorius_{side}",
                    near[ms].distance_mm,
                    near[ms].closest_mm,
                    "masseter_safe_zone",
                )
            )
    if tb == "depressor_anguli_oris":
        ch = _lm(model, f"cheilion_{side}")
        if abs(entry[0]) < abs(ch[0]) - 2:
            out.append(
                _finding(
                    "caution",
                    "dao_too_medial",
                    "This DAO point is medial to the mouth corner's "
                    "vertical: it reaches depressor labii inferioris (an uneven lower lip and smile).",
                    f"depressor_labii_inferioris_{side}",
                    float(abs(entry[0]) - abs(ch[0])),
                    None,
                    "dao_position",
                )
            )
        if entry[1] > ch[1] - 10:
            out.append(
                _finding(
                    "caution",
                    "dao_too_high",
                    "This DAO point is close to the mouth corner: keep low, "
                    "near the mandible, away from the orbicularis oris and the lip.",
                    f"depressor_anguli_oris_{side}",
                    float(entry[1] - ch[1]),
                    None,
                    "dao_position",
                )
            )
    if tb == "mentalis":
        sl = _lm(model, "sublabiale")
        if entry[1] > sl[1] - 3:
            out.append(
                _finding(
                    "caution",
                    "mentalis_too_high",
                    "This mentalis point is high on the chin: toxin "
                    "spreads to the lower lip (orbicularis oris, depressor labii): lip incompetence, "
                    "drooling.",
                    "orbicularis_oris",
                    float(entry[1] - sl[1]),
                    None,
                    "mentalis_position",
                )
            )
        if abs(entry[0]) > R["mentalis_position"]["max_lateral_mm"]:
            out.append(
                _finding(
                    "caution",
                    "mentalis_too_lateral",
                    "This mentalis point is far from the midline: it "
                    "reaches depressor labii inferioris and the mental nerve region.",
                    f"depressor_labii_inferioris_{side}",
                    float(abs(entry[0])),
                    None,
                    "mentalis_position",
                )
            )
    if tb == "platysma" and placed.depth_mm > R["platysma_depth"]["max_depth_mm"]:
        out.append(
            _finding(
                "caution",
                "platysma_too_deep",
                f"This platysma point is {placed.depth_mm:.0f} mm deep: "
                "platysma is superficial; deeper toxin reaches the neck muscles (dysphagia, neck "
                "weakness).",
                target,
                float(placed.depth_mm - R["platysma_depth"]["max_depth_mm"]),
                None,
                "platysma_depth",
            )
        )
    return out


def plan_findings(model, plan: Plan, points_out: list[dict]) -> tuple[dict, list[dict]]:
    """Totals by structure, side and session, and the plan-level dose and balance findings."""
    by_structure: dict[str, float] = {}
    by_side: dict[str, float] = {}
    by_session: dict[str, float] = {}
    total = 0.0
    group_side: dict[tuple[str, str, str], float] = {}
    for p, res in zip(plan.points, points_out, strict=False):
        u = float(plan.ona_units_of(p))
        total += float(p.units)
        key = p.target or res.get("tip_in") or "unassigned"
        by_structure[key] = by_structure.get(key, 0.0) + float(p.units)
        sd = side_of(key) if key != "unassigned" else ("left" if res["entry_mm"][0] >= 0 else "right")
        by_side[sd] = by_side.get(sd, 0.0) + float(p.units)
        ses = res.get("session", "initial")
        by_session[ses] = by_session.get(ses, 0.0) + float(p.units)
        if p.target:
            g = dose_group_of(p.target)
            k = (g, side_of(p.target), ses)
            group_side[k] = group_side.get(k, 0.0) + u
    findings: list[dict] = []
    for (g, sd, ses), u in sorted(group_side.items()):
        rng = dose_range(g)
        if rng is None:
            continue
        where = g.replace("_", " ") + ("" if sd == "midline" else f" ({sd})")
        if u > rng.high_units:
            sev = "danger" if u > 2 * rng.high_units else "caution"
            findings.append(
                _finding(
                    sev,
                    "dose_above_range",
                    f"{u:g} U into {where} in session '{ses}' is above "
                    f"the usual range ({rng.typical_low_units:g}-{rng.typical_high_units:g} U, at most "
                    f"{rng.high_units:g} U): too much weakens it more than intended "
                    f"(for the masseter: chewing fatigue).",
                    g if sd == "midline" else f"{g}_{sd}",
                    rule="dose_range",
                )
            )
        elif u < rng.low_units:
            findings.append(
                _finding(
                    "info",
                    "dose_below_range",
                    f"{u:g} U into {where} is below the usual range "
                    f"({rng.typical_low_units:g}-{rng.typical_high_units:g} U): the effect may be weak or short.",
                    g if sd == "midline" else f"{g}_{sd}",
                    rule="dose_range",
                )
            )
    mt = max_total()
    units_total = sum(float(plan.ona_units_of(p)) for p in plan.points)
    if units_total > mt.units:
        findings.append(
            _finding(
                "danger",
                "total_dose_above_max",
                f"The plan totals {units_total:g} U: above the {mt.units:g} U maximum in {mt.days} days.",
                rule="dose_range",
            )
        )
    ratio = rules()["imbalance"]["ratio"]
    pairs: dict[tuple[str, str], dict[str, float]] = {}
    for (g, sd, ses), u in group_side.items():
        if sd in ("left", "right"):
            pairs.setdefault((g, ses), {})[sd] = u
    for (g, ses), d in sorted(pairs.items()):
        lu, ru = d.get("left", 0.0), d.get("right", 0.0)
        if max(lu, ru) > 0 and abs(lu - ru) > ratio * max(lu, ru):
            findings.append(
                _finding(
                    "info",
                    "left_right_imbalance",
                    f"{g.replace('_', ' ')}: {lu:g} U left and "
                    f"{ru:g} U right in session '{ses}'. Unless this corrects an asymmetry, uneven "
                    "dosing gives an uneven result.",
                    g,
                    rule="imbalance",
                )
            )
    totals = {
        "units": round(total, 3),
        "by_structure": by_structure,
        "by_side": by_side,
        "by_session": by_session,
    }
    return totals, findings
