"""``injectmap face fit``: fit the layered face to photos and write a ``*.face.json`` (the photos are read
by ``reports.photo_io``, with Pillow: the anatomy layer takes arrays)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    f = sub.add_parser("face", help="the patient's own face: fit the layered face to photos")
    fsub = f.add_subparsers(dest="face_cmd", required=True)
    ff = fsub.add_parser("fit", help="fit to a front photo (and optional left and right obliques)")
    ff.add_argument("--photo", action="append", required=True, type=Path,
                    help="a photo; give the front photo first, then up to two obliques")
    ff.add_argument("-o", "--output", required=True, type=Path, help="NAME.face.json (written owner-only)")
    ff.add_argument("--focal-35mm", type=float, default=None,
                    help="the lens's 35 mm-equivalent focal length when the photos carry no EXIF (default 50)")


def cmd_face(args: argparse.Namespace) -> int:
    from injectmap.anatomy.basehead import file_sha256
    from injectmap.anatomy.fit import facefile
    from injectmap.anatomy.fit.landmarks import FitRefused
    from injectmap.anatomy.fit.photo import fit_images
    from injectmap.reports.photo_io import PhotoError

    if len(args.photo) > 3:
        print("injectmap face fit: at most three photos (front, left, right)", file=sys.stderr)
        return 2
    if not args.output.name.endswith(".face.json"):
        print("injectmap face fit: the output's name must end in .face.json", file=sys.stderr)
        return 2
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
    try:
        res = fit_images(images, focals)
    except FitRefused as exc:
        print(f"injectmap face fit: photo refused: {exc}", file=sys.stderr)
        return 2
    resid = np.concatenate(res.residuals_mm)
    face = facefile.make(res.targets, sources, list(res.residuals_mm[0]), res.scale)
    face = with_cameras(face, res, sources)
    facefile.write(face, args.output)
    print(f"wrote {args.output} (face {face.face_id[:16]}, {len(res.targets)} shape targets)")
    print(f"residuals per landmark: median {np.median(resid):.2f} mm, 90th percentile "
          f"{np.percentile(resid, 90):.2f} mm, max {resid.max():.2f} mm ({len(resid)} landmarks)")
    sc = res.scale
    print(f"scale: from the iris (11.71 mm, SD 0.42): camera at {sc['iris_depth_mm']:.0f} mm; "
          f"intercanthal width {sc['intercanthal_mm']:.1f} mm ({sc['intercanthal_z']:+.1f} SD of the population's)")
    if abs(sc["intercanthal_z"]) > 2.5:
        print("warning: the intercanthal width is far from the population's: check the scale (a child, a "
              "wide-angle lens close to the face, or an iris misread)")
    print(f"caveat: {facefile.CAVEAT}")
    return 0


def read_photo(path: Path) -> tuple[np.ndarray, float | None]:
    """A photo as (h, w, 3) uint8 RGB (EXIF orientation applied) and its EXIF 35 mm-equivalent focal
    length, if it has one (the shared reader: ``reports.photo_io.read_photo``)."""
    from injectmap.reports.photo_io import read_photo as read

    photo = read(path)
    return photo.rgb, photo.focal_35mm


def with_cameras(face: Any, res: Any, sources: list[dict[str, str]]) -> Any:
    """The face file with each photo's recovered camera (in the built face's frame)."""
    import dataclasses

    from injectmap.anatomy.fit import facefile
    from injectmap.anatomy.fit.photo import contract_origin

    origin = contract_origin(res.weights)
    cams = tuple(facefile.camera_entry(cam, src.get("role", ""), src["sha256"], origin)
                 for cam, src in zip(res.cameras, sources, strict=True))
    return dataclasses.replace(face, cameras=cams)
