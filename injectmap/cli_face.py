"""``injectmap face fit``: fit the layered face to photos and write a ``*.face.json`` (the photos are read
by ``reports.photo_io``, with Pillow: the anatomy layer takes arrays)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    f = sub.add_parser("face", help="the patient's own face: fit the layered face to photos or a 3D scan")
    fsub = f.add_subparsers(dest="face_cmd", required=True)
    ff = fsub.add_parser("fit", help="fit to a front photo (and optional left and right obliques), or to a 3D scan")
    src = ff.add_mutually_exclusive_group(required=True)
    src.add_argument("--photo", action="append", type=Path,
                     help="a photo; give the front photo first, then up to two obliques")
    src.add_argument("--scan", type=Path, help="a 3D scan of the face: OBJ, PLY, STL or GLB")
    ff.add_argument("--units", choices=("mm", "m"), default=None,
                    help="the scan's units (default: decided from its size, and printed)")
    ff.add_argument("--no-render-landmarks", dest="render_landmarks", action="store_false",
                    help="for a scan: align it by its geometry alone, without the landmarks found on an "
                         "off-screen render of it (default: found when mediapipe is installed)")
    ff.add_argument("-o", "--output", required=True, type=Path, help="NAME.face.json (written owner-only)")
    ff.add_argument("--focal-35mm", type=float, default=None,
                    help="the lens's 35 mm-equivalent focal length when the photos carry no EXIF (default 50)")
    ff.add_argument("--ipd-mm", default=None, metavar="MM",
                    help="the patient's measured distance interpupillary distance in mm, taken by an examiner with a "
                         "PD rule or a pupillometer (not a near or monocular PD, not self-measured): the face's size "
                         "is taken from it rather than from the iris's population mean (62.5 or 62,5)")
    fc = fsub.add_parser("chart", help="draw a plan on a photo its face was fitted to (a PNG, owner-only)")
    fc.add_argument("--photo", required=True, type=Path, help="a photo the face file was fitted to")
    fc.add_argument("--face", required=True, type=Path, help="the NAME.face.json fitted to that photo")
    fc.add_argument("--plan", required=True, type=Path, help="the plan (its points are placed on that face)")
    fc.add_argument("-o", "--output", required=True, type=Path, help="chart.png (written owner-only)")
    fc.add_argument("--no-zones", action="store_true", help="without the arteries', nerves' and duct's corridors")
    fc.add_argument("--no-labels", action="store_true", help="markers without the ids and units")


def cmd_face(args: argparse.Namespace) -> int:
    if args.face_cmd == "chart":
        return cmd_face_chart(args)
    return cmd_face_fit(args)


def cmd_face_chart(args: argparse.Namespace) -> int:
    """``injectmap face chart``: the plan on the photo (exit 2 for a bad input, the photo's name never printed)."""
    from injectmap.anatomy.model import load_model
    from injectmap.anatomy.params import FaceParams
    from injectmap.planning.check import check_plan
    from injectmap.planning.plan import PlanError, load_plan
    from injectmap.reports.photo_chart import PhotoChartError, chart_on_photo, photo_input, write_private_png

    if args.output.suffix.lower() != ".png":
        print("injectmap face chart: the output must be a .png", file=sys.stderr)
        return 2
    if not args.output.parent.is_dir():
        print("injectmap face chart: the output's folder does not exist", file=sys.stderr)
        return 2
    from injectmap.anatomy.fit.facefile import FaceFileError

    try:
        photo = photo_input(args.photo, args.face)
    except (PhotoChartError, FaceFileError) as exc:
        print(f"injectmap face chart: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # an unreadable photo or face file (the photo's name is never printed)
        print(f"injectmap face chart: cannot read the photo or the face file ({exc.strerror or type(exc).__name__})",
              file=sys.stderr)
        return 2
    try:
        plan = load_plan(args.plan)
    except PlanError as exc:
        print("\n".join(f"injectmap face chart: {e}" for e in exc.errors), file=sys.stderr)
        return 2
    named = getattr(plan.model, "face", None) if plan.model is not None else None
    if named:
        from injectmap.anatomy.fit.facefile import FaceFileError, read

        try:
            same = read(Path(named)).face_id == photo.face.face_id
        except (OSError, FaceFileError):
            same = False
        if not same:
            print("injectmap face chart: the plan names another face (model.face) than --face", file=sys.stderr)
            return 2
    # the plan's points are placed on the fitted face (the fit is on the default head: sex 0.5)
    model = load_model(params=FaceParams(fit=photo.face.targets))
    result = check_plan(plan, model, args.plan.name)
    if result.errors:
        print("\n".join(f"injectmap face chart: {e}" for e in result.errors), file=sys.stderr)
        return 2
    img = chart_on_photo(photo.image, photo.camera, model, result, zones=not args.no_zones, labels=not args.no_labels)
    try:
        write_private_png(args.output, img)
    except OSError as exc:
        print(f"injectmap face chart: cannot write the chart ({exc.strerror or type(exc).__name__})", file=sys.stderr)
        return 3
    print(f"wrote {args.output} ({len(result.points)} points on the {photo.role or 'front'} photo, owner-only)")
    return 0


def _photo_options_error(args: argparse.Namespace) -> str | None:
    """What is wrong with a photo fit's options (a scan's own options, too many photos, the output's name, an
    interpupillary distance outside the adult range), or None."""
    from injectmap.anatomy.fit.landmarks import FitRefused
    from injectmap.anatomy.fit.photo import MAX_PHOTOS, checked_ipd

    if getattr(args, "units", None):
        return "--units is for a scan (--scan)"
    if not getattr(args, "render_landmarks", True):
        return "--no-render-landmarks is for a scan (--scan)"
    if len(args.photo) > MAX_PHOTOS:
        return "at most three photos (front, left, right)"
    if not args.output.name.endswith(".face.json"):
        return "the output's name must end in .face.json"
    try:
        checked_ipd(getattr(args, "ipd_mm", None))
    except FitRefused as exc:
        return f"--ipd-mm: {exc}"
    return None


def cmd_face_fit(args: argparse.Namespace) -> int:
    if getattr(args, "scan", None) is not None:
        return cmd_face_scan(args)
    error = _photo_options_error(args)
    if error:
        print(f"injectmap face fit: {error}", file=sys.stderr)
        return 2
    from injectmap.anatomy.basehead import file_sha256
    from injectmap.anatomy.fit import facefile
    from injectmap.anatomy.fit.landmarks import FitRefused
    from injectmap.anatomy.fit.photo import (
        checked_ipd,
        detect_views,
        fit_views,
        placement_text,
        scale_text,
        scale_warnings,
    )
    from injectmap.reports.photo_io import PhotoError

    images, focals, sources = [], [], []
    for i, path in enumerate(args.photo):
        try:
            img, f35 = read_photo(path)
        except OSError as exc:
            print(f"injectmap face fit: cannot read photo {i + 1} ({exc.strerror or type(exc).__name__})", file=sys.stderr)
            return 2
        except PhotoError as exc:
            print(f"injectmap face fit: photo {i + 1}: {exc}", file=sys.stderr)
            return 2
        images.append(img)
        focals.append(args.focal_35mm or f35)
        sources.append({"kind": "photo", "role": ("front", "oblique", "oblique")[i],
                        "sha256": file_sha256(path)})
    try:  # the front photo first, as given; each oblique turned more than a front photo may be
        views, _order = detect_views(images, [f"photo {i + 1}" for i in range(len(images))], focals,
                                     front_first=True)
        res = fit_views(views, ipd_mm=checked_ipd(getattr(args, "ipd_mm", None)))
    except FitRefused as exc:
        print(f"injectmap face fit: photo refused: {exc}", file=sys.stderr)
        return 2
    resid = np.asarray(res.residuals_mm[0])  # the front photo's: the obliques do not shape the face
    face = facefile.make(res.targets, sources, list(res.residuals_mm[0]), res.scale)
    face = facefile.with_photo_cameras(face, res, sources)
    facefile.write(face, args.output)
    print(f"wrote {args.output} (face {face.face_id[:16]}, {len(res.targets)} shape targets)")
    print(f"residuals per landmark: median {np.median(resid):.2f} mm, 90th percentile "
          f"{np.percentile(resid, 90):.2f} mm, max {resid.max():.2f} mm ({len(resid)} landmarks)")
    for i in range(1, len(res.residuals_mm)):  # each oblique, posed against the face: what its camera sees
        seen = res.seen_residuals_mm(i)
        print(f"oblique photo {i + 1}: median {np.median(seen):.2f} mm over the {len(seen)} landmarks it shows")
    print(f"scale: {scale_text(res.scale)}")
    for warning in scale_warnings(res.scale):
        print(f"warning: {warning}")
    print(f"caveat: {facefile.CAVEAT}")
    print(f"placement: {placement_text()}")
    return 0


def read_photo(path: Path) -> tuple[np.ndarray, float | None]:
    """A photo as (h, w, 3) uint8 RGB (EXIF orientation applied) and its EXIF 35 mm-equivalent focal
    length, if it has one (the shared reader: ``reports.photo_io.read_photo``)."""
    from injectmap.reports.photo_io import read_photo as read

    photo = read(path)
    return photo.rgb, photo.focal_35mm


def cmd_face_scan(args: argparse.Namespace) -> int:
    """``injectmap face fit --scan FACE.obj|ply|stl|glb -o NAME.face.json [--units mm|m]
    [--no-render-landmarks]``."""
    from injectmap.anatomy.fit import facefile
    from injectmap.anatomy.scan.loading import ScanError
    from injectmap.anatomy.scan.toface import face_from_scan

    if getattr(args, "ipd_mm", None) is not None:
        print("injectmap face fit: --ipd-mm is for a photo (a scan carries its own size)", file=sys.stderr)
        return 2
    if not args.output.name.endswith(".face.json"):
        print("injectmap face fit: the output's name must end in .face.json", file=sys.stderr)
        return 2
    try:
        res = face_from_scan(args.scan, args.units or "auto", render_landmarks=args.render_landmarks)
    except ScanError as exc:
        print(f"injectmap face fit: scan refused: {exc}", file=sys.stderr)
        return 2
    except (facefile.FaceFileError, ValueError, np.linalg.LinAlgError, MemoryError) as exc:
        print(f"injectmap face fit: the scan {args.scan.name!r} could not be fitted ({type(exc).__name__})",
              file=sys.stderr)
        return 2
    try:
        facefile.write(res.face, args.output)
    except OSError as exc:
        print(f"injectmap face fit: cannot write {args.output.name} ({exc.strerror or type(exc).__name__})",
              file=sys.stderr)
        return 2
    fit, per = res.fit, res.per_landmark_mm
    sc = res.face.scan
    n = res.face.offsets.n_vertices if res.face.offsets else 0
    print(f"wrote {args.output} (face {res.face.face_id[:16]}, offsets of {n} base-mesh vertices in 0.01 mm steps)")
    how = "given" if args.units else "detected"
    print(f"units: {sc['units']} ({how}: {sc['units_reason']})"
          + ("" if args.units else "; if that is wrong, give --units mm or --units m"))
    print(f"alignment: {fit.alignment}; the scan covers {fit.coverage:.0%} of the face region "
          "(menton to trichion, in front of the ears); beyond it the face stays the population template")
    print(f"surface: the scan's points lie {fit.residual_median_mm:.2f} mm (median) and "
          f"{fit.residual_p90_mm:.2f} mm (90th percentile) from the fitted skin")
    if per:
        r = np.array(list(per.values()))
        print(f"residuals per landmark (fitted landmark to the scan's surface, {len(r)} covered skin landmarks): "
              f"median {np.median(r):.2f} mm, 90th percentile {np.percentile(r, 90):.2f} mm, max {r.max():.2f} mm")
        for name in sorted(per):
            print(f"  {name}: {per[name]:.2f} mm")
    else:
        print("residuals per landmark: the scan covers none of the skin landmarks")
    print(f"caveat: {facefile.SCAN_CAVEAT}")
    return 0

