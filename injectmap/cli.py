"""The ``injectmap`` command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")


def _params(args):
    from injectmap.anatomy.params import FaceParams

    return FaceParams(sex=args.sex, masseter=args.masseter, brow_left=args.brow_left, brow_right=args.brow_right)


def cmd_anatomy(args) -> int:
    from injectmap.anatomy.model import cache_folder, load_model
    from injectmap.anatomy.params import FaceParamsError

    if args.anatomy_cmd == "cache":
        return _cmd_cache(args)
    if args.anatomy_cmd == "memory":
        from injectmap.anatomy.cache import measure_face_memory

        res = measure_face_memory(args.faces)
        print(json.dumps(res, indent=1) if args.json else "\n".join(f"{k:<28} {v}" for k, v in res.items()))
        return 0
    try:
        asked = _params(args)
    except FaceParamsError as exc:
        print(f"ERROR {exc}", file=sys.stderr)
        return 2
    if not asked.is_quantised:
        print(f"injectmap: note: the face parameters were rounded to their steps: {asked.quantised().name} "
              "(data/face_cache.yaml)", file=sys.stderr)
    if args.anatomy_cmd == "build":
        t0 = time.perf_counter()
        m = load_model(params=asked, rebuild=args.force)
        print(
            f"model {m.name}: {len(m.structures)} structures, {len(m.landmarks)} landmarks, "
            f"{time.perf_counter() - t0:.1f} s -> {cache_folder(m.params)}"
        )
        return 0
    return _cmd_inspect(args, load_model(params=asked))


def _cmd_inspect(args, m) -> int:
    """``injectmap anatomy list | landmarks | export`` on the loaded face ``m``."""
    if args.anatomy_cmd == "list":
        rows = [
            {"id": s.id, "kind": s.kind, "side": s.side, "layer": s.layer, "name": s.name, "colour": s.colour}
            for s in m.structures.values()
        ]
        if args.json:
            print(json.dumps(rows, indent=1))
        else:
            for r in rows:
                print(f"{r['id']:<50} {r['kind']:<8} {r['side']:<8} {r['name']}")
        return 0
    if args.anatomy_cmd == "landmarks":
        data = {k: [round(float(x), 3) for x in v] for k, v in m.landmarks.items()}
        if args.json:
            print(json.dumps(data, indent=1))
        else:
            for k, v in data.items():
                print(f"{k:<30} {v}")
        return 0
    if args.anatomy_cmd == "export":
        out = Path(args.dir)
        out.mkdir(parents=True, exist_ok=True)
        for sid, s in m.structures.items():
            s.mesh.save(out / f"{sid}.{args.format}")
        print(f"wrote {len(m.structures)} files to {out}")
        return 0
    return 2


def _cmd_cache(args) -> int:
    """``injectmap anatomy cache``: every cached face, its size, and whether it can be used."""
    from injectmap.anatomy.cache import folder_bytes, is_face_folder
    from injectmap.anatomy.model import cache_disk_budget, cache_root, folder_problem

    root = cache_root()
    rows: list[dict] = []
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        if is_face_folder(folder):
            problem = folder_problem(folder)
            rows.append({"name": folder.name, "bytes": folder_bytes(folder), "last_used": round(folder.stat().st_mtime),
                         "ok": problem is None, "problem": problem})
    total = sum(r["bytes"] for r in rows)
    budget = round(cache_disk_budget())
    res = {"root": str(root), "bytes": total, "budget_bytes": budget, "faces": rows}
    if args.json:
        print(json.dumps(res, indent=1))
    else:
        print(f"{root}: {len(rows)} faces, {total / 1e6:.0f} MB of {budget / 1e6:.0f} MB")
        for r in rows:
            state = "ok" if r["ok"] else f"NOT USABLE (rebuilt when next asked for): {r['problem']}"
            print(f"  {r['name']:<40} {r['bytes'] / 1e6:6.1f} MB  {state}")
    return 0 if all(r["ok"] for r in rows) else 1


def cmd_check(args) -> int:
    from injectmap.planning.check import check_file, dumps, format_table
    from injectmap.planning.results import PlanResult

    if args.expressions:  # the findings linked to the visible side effects (additive keys only)
        from injectmap.teaching.side_effects_cli import cmd_check_expressions

        return cmd_check_expressions(args.plan, day=args.day, fmt=args.format)
    try:
        res, code = check_file(args.plan)
    except Exception as exc:  # internal failure: exit 3 with the reason, still in the JSON shape
        res, code = PlanResult.failed(args.plan, f"internal error: {type(exc).__name__}: {exc}"), 3
    print(dumps(res) if args.format == "json" else format_table(res))
    return code


def cmd_plan(args) -> int:
    from injectmap.planning.cli_plan import cmd_mirror, cmd_validate

    if args.plan_cmd == "validate":
        return cmd_validate(args.plan)
    return cmd_mirror(args.plan, out=args.output, side=args.side)


def cmd_protocol(args) -> int:
    from injectmap.planning.cli_protocol import cmd_list, cmd_show

    if args.protocol_cmd == "list":
        return cmd_list()
    return cmd_show(args.name, fmt=args.format, out=args.output)


def cmd_expressions(args) -> int:
    from injectmap.teaching.expressions_cli import cmd_expressions as run

    return run(args.plan, day=args.day, fmt=args.format)


def cmd_serve(args) -> int:
    from injectmap.viewer.server import serve

    serve(port=args.port, host=args.host, certfile=args.certfile, keyfile=args.keyfile,
          behind_proxy=args.behind_proxy, origins=args.origin)
    return 0


def cmd_users(args) -> int:
    """``injectmap users add|remove|list``: the logins of ``injectmap serve`` (the password is asked for,
    never taken from the command line)."""
    import getpass

    from injectmap.viewer.auth import UsersFileError, add_user, check_name, load_users, remove_user, users_file

    path = Path(args.file) if args.file else users_file()
    try:
        if args.users_cmd == "list":
            for name, rec in sorted(load_users(path).users.items()):
                print(f"{name:<30} {rec.created}")
            return 0
        check_name(args.name)
        if args.users_cmd == "remove":
            if not remove_user(path, args.name):
                print(f"ERROR no user {args.name} in {path}", file=sys.stderr)
                return 2
            print(f"removed {args.name} from {path}")
            return 0
        password = getpass.getpass(f"Password for {args.name}: ")
        if getpass.getpass("The same password again: ") != password:
            print("ERROR the two passwords differ; nothing changed", file=sys.stderr)
            return 2
        new = add_user(path, args.name, password)
    except (UsersFileError, ValueError, OSError) as exc:
        print(f"ERROR {exc}", file=sys.stderr)
        return 2
    print(f"{'added' if new else 'changed the password of'} {args.name} in {path}")
    return 0


def cmd_records(args) -> int:
    from injectmap.clinic.cli_records import cmd_records as run
    from injectmap.clinic.records import DeleteResult, Patient, PatientSummary
    from injectmap.reports import chart_cache
    from injectmap.reports.stills_cache import forget_face

    def forget(face_id: str) -> int:
        chart_cache.forget_face(face_id)  # this process's memory of its charts (no file: not counted)
        return forget_face(face_id)

    def forget_autosaves(patient: Patient, res: DeleteResult, remaining: list[PatientSummary] | None) -> int:
        """The app's autosaved plans that name them, by identifier in this database's only (``--database-url``)."""
        from injectmap.viewer.patient_panel import forget_autosaves as forget_plans

        return len(forget_plans(patient, res, remaining, url=args.database_url))

    def added(patient: Patient) -> None:
        """A patient added with a deleted one's identifier: the app autosaves plans naming them again."""
        from injectmap.viewer.patient_panel import unforget_patient

        unforget_patient(patient, url=args.database_url)

    # a deleted patient's fitted faces leave the stills cache too, and their autosaved plans go
    return run(args, forget_face=forget, forget_autosaves=forget_autosaves, on_added=added)


def cmd_report(args) -> int:
    """Write the report: the output is checked first (exit 2 for a wrong path, 3 when it cannot be
    written), then the plan (exit 2), then the report is rendered and written (exit 3 if that fails)."""
    from injectmap.reports.report import ReportOutputError, check_output, write_failure

    try:
        check_output(args.output)
    except ReportOutputError as exc:
        print(f"ERROR {exc}", file=sys.stderr)
        return exc.exit_status
    from injectmap.planning.plan import PlanError
    from injectmap.reports.chart import ChartContext
    from injectmap.viewer.report_render import build_report

    try:
        context = ChartContext(clinician=args.clinician, visit_date=args.visit_date, lot=args.lot, expiry=args.expiry,
                               dilution=args.dilution, notes=args.notes, structure_labels=not args.no_structure_labels)
    except ValueError as exc:
        print(f"ERROR --visit-date must be YYYY-MM-DD ({exc})", file=sys.stderr)
        return 2
    from dataclasses import replace

    try:
        context = replace(context, session=args.session)
    except ValueError as exc:
        print(f"ERROR --session: {exc}", file=sys.stderr)
        return 2
    try:
        t = build_report(args.plan, args.output, interactive=not args.no_3d, context=context, handout=args.handout,
                         photo=args.photo)
    except PlanError as exc:
        print("\n".join(f"ERROR {e}" for e in exc.errors), file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"ERROR {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the write itself failed (a full disk, the folder changed meanwhile)
        print(f"ERROR {write_failure(args.output, exc)}", file=sys.stderr)
        return 3
    print(f"wrote {args.output} ({t['bytes'] / 1e6:.1f} MB) in {t['total_s']:.1f} s")
    return 0


def cmd_train(args) -> int:
    from injectmap.teaching.cli_train import cmd_list, cmd_score, cmd_start

    if args.train_cmd == "list":
        return cmd_list()
    if args.train_cmd == "start":
        return cmd_start(args.exercise, out=args.output)
    return cmd_score(args.exercise, args.plan, fmt=args.format, trainee=args.trainee, scores=args.scores)


def cmd_face(args) -> int:
    from injectmap.cli_face import cmd_face as run

    return run(args)


def cmd_bench(args) -> int:
    from injectmap.planning.bench import run_bench

    res = run_bench(repeats=args.repeats)
    if args.expressions:
        from injectmap.teaching.expressions_bench import run_expressions_bench

        res.update(run_expressions_bench(repeats=args.expressions))
    if args.faces:
        from injectmap.anatomy.cache import measure_face_memory

        res.update({f"faces_{k}": v for k, v in measure_face_memory(args.faces).items()})
    if args.scan_fits:
        from injectmap.anatomy.scan.bench import run_scan_bench

        res.update(run_scan_bench(repeats=args.scan_fits))
    if args.clicks:
        from injectmap.viewer.bench import run_viewer_bench

        res.update(run_viewer_bench(clicks=args.clicks, expression_frames=args.expressions))
    if args.fits:
        from injectmap.anatomy.fit.bench import run_fit_bench

        res.update(run_fit_bench(fits=args.fits))
    if args.charts:
        from injectmap.reports.chart_bench import run_chart_bench

        res.update(run_chart_bench(charts=args.charts))
    if args.format == "json":
        print(json.dumps(res, indent=1))
    else:
        for k, v in res.items():
            print(f"{k:<28} {v}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="injectmap", description="3D injection mapping for botulinum toxin planning"
    )
    p.add_argument("--cache-dir", metavar="DIR",
                   help="folder of the built-face cache (default: $INJECTMAP_CACHE_DIR, meshes/ in a source "
                        "checkout, else the user's cache folder)")
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("anatomy", help="build and inspect the face model")
    asub = a.add_subparsers(dest="anatomy_cmd", required=True)
    ca = asub.add_parser("cache", help="the cached faces, their size against the disk budget, whether each is whole "
                                       "and current (every file's hash checked; exit 1 when one is not)")
    ca.add_argument("--json", action="store_true")
    me = asub.add_parser("memory", help="process memory (RSS) while faces are loaded and after they are let go")
    me.add_argument("--faces", type=int, default=3, help="how many cached variant faces to load (built if missing)")
    me.add_argument("--json", action="store_true")
    for name in ("build", "list", "landmarks", "export"):
        s = asub.add_parser(name)
        s.add_argument("--sex", type=float, default=0.5, help="0 female .. 1 male")
        s.add_argument("--masseter", type=float, default=0.0, help="-1 small jaw .. 0 average .. 1 hypertrophy")
        s.add_argument("--brow-left", type=float, default=0.0, help="-1 low .. 1 high brow on the left")
        s.add_argument("--brow-right", type=float, default=0.0, help="-1 low .. 1 high brow on the right")
        if name == "build":
            s.add_argument("--force", action="store_true", help="rebuild even when the cache is current")
        if name in ("list", "landmarks"):
            s.add_argument("--json", action="store_true")
        if name == "export":
            s.add_argument("dir")
            s.add_argument("--format", choices=["vtp", "ply", "stl", "obj"], default="vtp")
    c = sub.add_parser("check", help="analyse a plan")
    c.add_argument("plan")
    c.add_argument("--format", choices=["json", "table"], default="table")
    c.add_argument("--expressions", action="store_true",
                   help="link the findings to the visible side effects (expression model) on --day")
    c.add_argument("--day", type=float, default=14.0, help="days after the session for --expressions (default 14)")
    pl = sub.add_parser("plan", help="validate or mirror a plan file")
    psub = pl.add_subparsers(dest="plan_cmd", required=True)
    v = psub.add_parser("validate")
    v.add_argument("plan")
    mi = psub.add_parser("mirror")
    mi.add_argument("plan")
    mi.add_argument("-o", "--output")
    mi.add_argument("--side", choices=["left", "right"])
    pr = sub.add_parser("protocol", help="published injection patterns as plan templates")
    prsub = pr.add_subparsers(dest="protocol_cmd", required=True)
    prsub.add_parser("list")
    ps = prsub.add_parser("show")
    ps.add_argument("name")
    ps.add_argument("--format", choices=["json", "table"], default="table", help="json: a plan file for check")
    ps.add_argument("-o", "--output", help="write to this file instead of printing")
    ex = sub.add_parser("expressions", help="what a plan does to the frown, the brows and the smile on a day, per side")
    ex.add_argument("plan")
    ex.add_argument("--day", type=float, default=14.0, help="days after the initial session (default 14: the peak)")
    ex.add_argument("--format", choices=["json", "table"], default="table")
    sv = sub.add_parser("serve", help="serve the app")
    sv.add_argument("--port", type=int, default=5006)
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--certfile", help="TLS certificate chain (PEM): serve HTTPS, the login cookie is Secure")
    sv.add_argument("--keyfile", help="the certificate's private key (PEM)")
    sv.add_argument("--behind-proxy", action="store_true",
                    help="an HTTPS reverse proxy forwards to this server (trust its client address headers; "
                         "the login cookie is Secure)")
    sv.add_argument("--origin", action="append", default=[], metavar="HOST[:PORT]",
                    help="a further host the pages are loaded from (the proxy's public name); repeatable")
    us = sub.add_parser("users", help="the logins of injectmap serve (users file: $INJECTMAP_USERS_FILE)")
    us.add_argument("--file", help="the users file (default: $INJECTMAP_USERS_FILE, else "
                                   "~/.config/injectmap/users.json)")
    ussub = us.add_subparsers(dest="users_cmd", required=True)
    for name in ("add", "remove"):
        ussub.add_parser(name, help="add a user or set a password (asked for)" if name == "add"
                         else "remove a user").add_argument("name")
    ussub.add_parser("list", help="the user names and when their password was set")
    from injectmap.clinic.cli_records import add_parser as add_records_parser

    add_records_parser(sub)
    r = sub.add_parser("report", help="write a plan report (.html or .pdf)")
    r.add_argument("plan")
    r.add_argument("-o", "--output", required=True, help="report.html or report.pdf")
    r.add_argument("--no-3d", action="store_true", help="HTML without the interactive 3D scene (smaller)")
    r.add_argument("--handout", action="store_true", help="the patient handout instead of the clinician's chart")
    r.add_argument("--clinician", default="", help="the treating clinician's name (chart, handout)")
    r.add_argument("--visit-date", default="", help="YYYY-MM-DD of the visit (default: the plan's date of its session)")
    r.add_argument("--session", default="", metavar="ID",
                   help="the plan's session the visit is (initial: a first visit, touch_up: its touch-up), also when "
                        "the visit date is another session's day in the plan (default: the session the plan dates on "
                        "the visit date, else its only session with points, else initial)")
    r.add_argument("--lot", default="", help="the vial's lot, for points without a lot of their own")
    r.add_argument("--expiry", default="", help="the vial's expiry date")
    r.add_argument("--dilution", default="", help="the reconstitution as prepared (default: from the plan's product)")
    r.add_argument("--notes", default="", help="notes of the visit (chart)")
    r.add_argument("--no-structure-labels", action="store_true", help="chart views without muscle and structure names")
    r.add_argument("--photo", default=None, help="the plan on this photo as the first page: a photo the plan's "
                                                  "model.face was fitted to (the report is then written owner-only)")
    tr = sub.add_parser("train", help="training exercises: list them, write one's start plan, score a plan")
    trsub = tr.add_subparsers(dest="train_cmd", required=True)
    trsub.add_parser("list")
    ts = trsub.add_parser("start", help="the plan an exercise starts from")
    ts.add_argument("exercise")
    ts.add_argument("-o", "--output", help="write to this file instead of printing")
    tsc = trsub.add_parser("score", help="score a plan for an exercise, with the pass mark and the fixes "
                                         "(exit 0 passed, 1 not passed, 2 a bad input)")
    tsc.add_argument("exercise")
    tsc.add_argument("plan")
    tsc.add_argument("--format", choices=["json", "table"], default="table")
    tsc.add_argument("--trainee", help="keep the score under this name")
    tsc.add_argument("--scores", help="the score file (default: $INJECTMAP_TRAINING_SCORES)")
    b = sub.add_parser("bench", help="speed of the analysis and of the viewer against naive baselines")
    b.add_argument("--format", choices=["json", "table"], default="table")
    b.add_argument("--repeats", type=int, default=200)
    b.add_argument("--clicks", type=int, default=20,
                   help="clicks placed through the viewer's handler, in-process (0: skip the viewer)")
    b.add_argument("--expressions", type=int, default=14,
                   help="previews of a plan's expressions on one day, timed (0: skip)")
    b.add_argument("--faces", type=int, default=0,
                   help="variant faces loaded and let go, with the process memory against its target (0: skip)")
    b.add_argument("--scan-fits", type=int, default=3,
                   help="fits of a synthetic patient's 3D scan, timed, against trimesh's nricp_amberg, and as many "
                        "builds of its face from nothing against the naive build of the same face (0: skip)")
    b.add_argument("--fits", type=int, default=0,
                   help="photo fits (injectmap face fit) timed, with a naive baseline (0: skip; needs the 'fit' extra)")
    b.add_argument("--charts", type=int, default=0,
                   help="charts of a 100-point plan on a photo (chart_on_photo) timed, with a naive baseline and the "
                        "app's repeated chart of the same photo, its buffer, bands and picture kept (0: skip)")
    from injectmap.cli_face import add_parser as add_face_parser

    add_face_parser(sub)
    args = p.parse_args(argv)
    if args.cache_dir:
        os.environ["INJECTMAP_CACHE_DIR"] = args.cache_dir  # read by anatomy.model.cache_root
    handler = {
        "anatomy": cmd_anatomy,
        "check": cmd_check,
        "plan": cmd_plan,
        "protocol": cmd_protocol,
        "expressions": cmd_expressions,
        "serve": cmd_serve,
        "users": cmd_users,
        "bench": cmd_bench,
        "report": cmd_report,
        "records": cmd_records,
        "train": cmd_train,
        "face": cmd_face,
    }[args.cmd]
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
