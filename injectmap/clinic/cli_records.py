"""``injectmap records ...``: the patient records from the command line (registered by injectmap/cli.py).

Patients are named by the clinic's identifier, visits by their number (``visits list``). The user (the
audit's actor and a visit's clinician) is ``--user``, else ``$INJECTMAP_USER``, else the login name of the
account running the command. Every error is one line on stderr starting ``ERROR`` and exit status 2; a
database that cannot be opened gives exit status 3.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import json
import os
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from injectmap.clinic.records import DeleteResult, Patient, PatientSummary

#: ``forget_autosaves(patient, result, remaining)``: removes the app's autosaved plans naming a deleted patient
#: (``remaining``: the patients left in the records, None when not known); returns how many
ForgetAutosaves = Callable[["Patient", "DeleteResult", "list[PatientSummary] | None"], int]

__all__ = ["USER_ENV", "add_parser", "cmd_records"]

USER_ENV = "INJECTMAP_USER"


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD: {text[:20]!r}") from None


def _datetime(text: str) -> dt.datetime:
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date and time YYYY-MM-DDTHH:MM[+00:00]: {text[:30]!r}") from None
    return when if when.tzinfo is not None else when.astimezone()  # a time without a zone is local time


#: the help of ``--ipd-mm`` (the patient's, kept in the record; ``injectmap face fit --ipd-mm`` takes one for a fit)
IPD_HELP = ("the patient's measured distance interpupillary distance in mm (a PD rule or a pupillometer, by an "
            "examiner; 62.5 or 62,5): the size of the patient's photo fits in the app")


def add_parser(sub: Any) -> None:
    """Add ``records`` and its subcommands to the ``injectmap`` parser's subparsers ``sub``."""
    r = sub.add_parser("records", help="patient records: patients, visits, plans, outcomes, export, backup "
                                       "(docs/clinic-records.md)")
    r.add_argument("--database-url", metavar="URL",
                   help="sqlite:///FILE or postgresql://USER@HOST/DB (default: $INJECTMAP_DATABASE_URL, else "
                        "records.sqlite3 in the user's data folder)")
    r.add_argument("--user", help=f"who acts, for the audit (default: ${USER_ENV}, else the login name)")
    r.add_argument("--photos-dir", metavar="DIR", help="the photos folder (default: $INJECTMAP_PHOTOS_DIR, else "
                                                      "photos/ beside the SQLite file)")
    rs = r.add_subparsers(dest="records_cmd", required=True)

    pa = rs.add_parser("patients", help="add, list, show, export or delete patients").add_subparsers(
        dest="patients_cmd", required=True)
    add = pa.add_parser("add", help="add a patient")
    add.add_argument("identifier", help="the clinic's identifier (chart number), unique")
    add.add_argument("--name")
    add.add_argument("--dob", type=_date, help="date of birth YYYY-MM-DD")
    add.add_argument("--notes", default="")
    add.add_argument("--ipd-mm", metavar="MM", help=IPD_HELP)
    up = pa.add_parser("update", help="change a patient's name, date of birth, notes or measured interpupillary "
                                      "distance (the audit names the fields changed, never their values)")
    up.add_argument("identifier")
    up.add_argument("--name")
    up.add_argument("--dob", type=_date, help="date of birth YYYY-MM-DD")
    up.add_argument("--notes")
    ipd = up.add_mutually_exclusive_group()
    ipd.add_argument("--ipd-mm", metavar="MM", help=IPD_HELP)
    ipd.add_argument("--no-ipd", action="store_true", help="remove the measured interpupillary distance")
    ls = pa.add_parser("list", help="the patients, with their number of visits and the last one")
    ls.add_argument("--search", help="identifier or name contains this (any case)")
    ls.add_argument("--json", action="store_true")
    sh = pa.add_parser("show", help="a patient with every visit (newest first) and outcome")
    sh.add_argument("identifier")
    sh.add_argument("--json", action="store_true")
    ex = pa.add_parser("export", help="the whole record as a zip: record.json and the photos")
    ex.add_argument("identifier")
    ex.add_argument("-o", "--output", required=True, help="FILE.zip (written owner-only)")
    de = pa.add_parser("delete", help="delete the whole record (visits, plans, outcomes, photos)")
    de.add_argument("identifier")
    de.add_argument("--yes", action="store_true", help="confirm: the record cannot be recovered (export it first)")

    vi = rs.add_parser("visits", help="add or list visits").add_subparsers(dest="visits_cmd", required=True)
    va = vi.add_parser("add", help="add a visit (by --user, the clinician)")
    va.add_argument("identifier")
    va.add_argument("--date", type=_date, default=dt.date.today(), help="YYYY-MM-DD (default: today)")
    va.add_argument("--kind", choices=["initial", "review", "touch_up"], required=True)
    va.add_argument("--completes", type=int, metavar="VISIT", help="a touch-up: the initial visit it completes")
    va.add_argument("--consent", action="store_true", help="consent was recorded (at --consent-at, else now)")
    va.add_argument("--consent-at", type=_datetime, metavar="TIME")
    va.add_argument("--product", help="default: the plan's product")
    va.add_argument("--lot")
    va.add_argument("--lot-expiry", type=_date, metavar="DATE")
    va.add_argument("--dilution-ml", type=float, metavar="ML", help="saline per vial (default: the plan's)")
    va.add_argument("--notes", default="")
    va.add_argument("--plan", metavar="FILE", help="a plan file (CONTRACTS.md) for this visit")
    va.add_argument("--photo", action="append", default=[], metavar="FILE", help="a JPEG or PNG; repeatable")
    vl = vi.add_parser("list", help="a patient's visits, newest first")
    vl.add_argument("identifier")
    vl.add_argument("--json", action="store_true")

    pl = rs.add_parser("plan", help="a visit's plan from or to a plan file").add_subparsers(dest="plan_cmd",
                                                                                            required=True)
    pi = pl.add_parser("import", help="store a plan file as the visit's plan")
    pi.add_argument("visit", type=int)
    pi.add_argument("file")
    pe = pl.add_parser("export", help="write the visit's plan file")
    pe.add_argument("visit", type=int)
    pe.add_argument("-o", "--output", required=True)

    ph = rs.add_parser("photos", help="a visit's photos: add, list, export or delete").add_subparsers(
        dest="photos_cmd", required=True)
    pha = ph.add_parser("add", help="keep JPEG or PNG files as photos of a visit")
    pha.add_argument("visit", type=int)
    pha.add_argument("files", nargs="+", metavar="FILE")
    phl = ph.add_parser("list", help="a visit's photos: id, date, size, name")
    phl.add_argument("visit", type=int)
    phl.add_argument("--json", action="store_true")
    phe = ph.add_parser("export", help="write a photo's file (its SHA-256 checked), owner-only")
    phe.add_argument("photo", type=int)
    phe.add_argument("-o", "--output", required=True)
    phd = ph.add_parser("delete", help="delete a photo and its file")
    phd.add_argument("photo", type=int)
    phd.add_argument("--yes", action="store_true", help="confirm: the photo cannot be recovered")

    oc = rs.add_parser("outcome", help="the outcome of a review").add_subparsers(dest="outcome_cmd", required=True)
    oa = oc.add_parser("add", help="record the movement left and side effects for an area and side")
    oa.add_argument("visit", type=int)
    oa.add_argument("--area", required=True, help="an area of dose_ranges.yaml (glabella, forehead, ...)")
    oa.add_argument("--side", required=True, choices=["left", "right", "midline"])
    oa.add_argument("--movement", required=True, type=int, choices=[0, 1, 2, 3], help="0 none .. 3 full")
    oa.add_argument("--side-effect", action="append", default=[], metavar="TEXT", help="repeatable")

    bk = rs.add_parser("backup", help="SQLite: a consistent copy (online backup); PostgreSQL: prints the "
                                      "pg_dump command")
    bk.add_argument("-o", "--output", required=True)
    rs.add_parser("upgrade", help="apply the database migrations (also done whenever the records are opened)")
    dg = rs.add_parser("downgrade", help="take the database back to an older migration, before an older injectmap "
                                         "runs on it (what later migrations added is dropped: back up first)")
    dg.add_argument("revision", help="the migration to go back to (0001, 0002, ...)")
    dg.add_argument("--yes", action="store_true", help="drop what the later migrations added (asked for)")


def _user(args: argparse.Namespace) -> str:
    if args.user:
        return str(args.user)
    return os.environ.get(USER_ENV) or getpass.getuser()


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=1, ensure_ascii=False, default=lambda o: o.isoformat() if hasattr(o, "isoformat")
                     else str(o)))


def cmd_records(args: argparse.Namespace, forget_face: Callable[[str], int] | None = None,
                forget_autosaves: ForgetAutosaves | None = None, on_added: Callable[[Patient], Any] | None = None) -> int:
    """Run ``injectmap records ...``; returns the exit status. ``forget_face`` removes what the reports keep
    of a deleted patient's fitted face (see ``Records.delete_patient``); ``forget_autosaves`` (:data:`ForgetAutosaves`)
    removes the app's autosaved plans that name the deleted patient and returns how many; ``on_added`` is told of a
    patient added (the app's autosaves of a deleted patient with the same identifier are written again)."""
    from sqlalchemy.exc import SQLAlchemyError

    from injectmap.clinic.db import DatabaseError
    from injectmap.clinic.records import RecordsError
    from injectmap.planning.plan import PlanError

    try:
        return _dispatch(args, forget_face, forget_autosaves, on_added)
    except PlanError as exc:
        print("ERROR " + f"invalid plan ({len(exc.errors)} error{'s' if len(exc.errors) != 1 else ''}): "
              + "; ".join(str(e) for e in exc.errors), file=sys.stderr)
    except DatabaseError as exc:
        print(f"ERROR {exc}", file=sys.stderr)
        return 3
    except RecordsError as exc:
        print(f"ERROR {exc}", file=sys.stderr)
    except SQLAlchemyError as exc:  # parameters are hidden (clinic.db): no patient data in the message
        print(f"ERROR the database refused the change: {type(exc).__name__}: {str(exc).splitlines()[0]}",
              file=sys.stderr)
        return 3
    except OSError as exc:
        print(f"ERROR {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
    return 2


def _dispatch(args: argparse.Namespace, forget_face: Callable[[str], int] | None = None,
              forget_autosaves: ForgetAutosaves | None = None, on_added: Callable[[Patient], Any] | None = None) -> int:
    from injectmap.clinic.db import make_engine, pg_dump_command, sqlite_backup, sqlite_path, upgrade
    from injectmap.clinic.records import Records, check_user

    user = check_user(_user(args))
    if args.records_cmd == "downgrade":
        return _downgrade(args, user)
    if args.records_cmd in ("upgrade", "backup"):
        engine = make_engine(args.database_url)
        try:
            head = upgrade(engine)
            if args.records_cmd == "upgrade":
                print(f"the records database is at migration {head} (the newest)")
            elif sqlite_path(engine.url) is not None:
                out = sqlite_backup(engine, Path(args.output))
                print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB, owner-only)")
            else:
                print(pg_dump_command(engine, Path(args.output)))
                print("(PostgreSQL: run this command, as a user that may read the database, to make the backup; "
                      "restore with pg_restore)", file=sys.stderr)
        finally:
            engine.dispose()
        return 0
    with Records.open(args.database_url, user=user,
                      photos_dir=Path(args.photos_dir) if args.photos_dir else None) as rec:
        if args.records_cmd == "patients":
            return _patients(rec, args, forget_face, forget_autosaves, on_added)
        handler = {"visits": _visits, "plan": _plan, "outcome": _outcome, "photos": _photos}[args.records_cmd]
        return handler(rec, args)


#: what each migration adds, which taking the database back before it drops
DROPPED_BY_DOWNGRADE = {
    "0003": "the patients' interpupillary distances",
    "0002": "the visits' fitted faces (their files in the faces folders stay, no longer linked to a visit: a patient's "
            "deletion then leaves them) and the names photos were added under",
}


def _downgrade(args: argparse.Namespace, user: str) -> int:
    """``records downgrade REVISION [--yes]``: without ``--yes`` it says what would be dropped and changes nothing;
    with it the downgrade is audited as ``user``'s (clinic.db.downgrade)."""
    from injectmap.clinic.db import downgradable, downgrade, make_engine

    engine = make_engine(args.database_url)
    try:
        at = downgradable(engine, args.revision)
        lost = [text for rev, text in DROPPED_BY_DOWNGRADE.items() if args.revision < rev <= at]
        if not args.yes:
            print(f"ERROR taking the records database from migration {at} back to {args.revision} drops "
                  f"{'; '.join(lost)}: back it up first (injectmap records backup -o FILE), then run again with --yes",
                  file=sys.stderr)
            return 2
        print(f"the records database is at migration {downgrade(engine, args.revision, actor=user)}"
              + (f" (dropped: {'; '.join(lost)})" if lost else ""))
    finally:
        engine.dispose()
    return 0


def _update_patient(rec: Any, args: argparse.Namespace) -> int:
    """``records patients update ID [--name] [--dob] [--notes] [--ipd-mm MM | --no-ipd]``: says what changed."""
    from injectmap.clinic.records import RecordsError

    p = rec.find_patient(args.identifier)
    if args.ipd_mm is not None and not args.ipd_mm.strip():
        raise RecordsError("--ipd-mm needs the distance in mm (--no-ipd removes it)")
    given = {k: v for k, v in (("name", args.name), ("date_of_birth", args.dob), ("notes", args.notes),
                               ("ipd_mm", args.ipd_mm)) if v is not None}
    if args.no_ipd:
        given["ipd_mm"] = None
    if not given:
        raise RecordsError("give what to change: --name, --dob, --notes, --ipd-mm or --no-ipd")
    after = rec.update_patient(p.id, **given)
    changed = sorted(k for k in given if getattr(after, k) != getattr(p, k))
    print(f"updated patient {p.identifier}: {', '.join(changed)}" if changed else
          f"patient {p.identifier}: nothing changed")
    return 0


def _patients(rec: Any, args: argparse.Namespace, forget_face: Callable[[str], int] | None = None,
              forget_autosaves: ForgetAutosaves | None = None, on_added: Callable[[Patient], Any] | None = None) -> int:
    cmd = args.patients_cmd
    if cmd == "add":
        p = rec.add_patient(args.identifier, name=args.name, date_of_birth=args.dob, notes=args.notes,
                            ipd_mm=args.ipd_mm)
        if on_added is not None:
            on_added(p)
        print(f"added patient {p.identifier}")
        return 0
    if cmd == "update":
        return _update_patient(rec, args)
    if cmd == "list":
        rows = rec.list_patients(args.search)
        if args.json:
            _print_json([asdict(r) for r in rows])
        for r in [] if args.json else rows:
            last = r.last_visit.isoformat() if r.last_visit else "-"
            print(f"{r.identifier:<24} {r.name or '':<30} {r.visits:>3} visits, last {last}")
        return 0
    p = rec.find_patient(args.identifier)
    if cmd == "show":
        return _show(rec, p, args.json)
    if cmd == "export":
        out = rec.export_patient(p.id, Path(args.output))
        print(f"wrote {out} (owner-only)")
        return 0
    if not args.yes:
        from injectmap.clinic.records import RecordsError

        raise RecordsError("deleting a record cannot be undone: add --yes (export it first)")
    return _delete_patient(rec, p, forget_face, forget_autosaves)


def _delete_patient(rec: Any, p: Patient, forget_face: Callable[[str], int] | None,
                    forget_autosaves: ForgetAutosaves | None) -> int:
    res = rec.delete_patient(p.id, forget_face=forget_face)
    print(f"deleted the record: {res.visits} visits, {res.outcomes} outcomes, {res.photos} photos, {res.faces} faces "
          f"({res.face_files} face file(s) removed from the faces folders, {res.built_faces} built face(s) from the "
          f"face cache, {res.stills} still(s) from the stills cache)")
    for f in res.files_left:  # before anything else can go wrong: the record is deleted, these files stay
        print(f"ERROR could not remove the file {f}", file=sys.stderr)
    status = 0 if not res.files_left else 2
    if forget_autosaves is not None:  # the plans the app autosaved name the patient: they go too
        try:
            remaining: list[PatientSummary] | None = rec.list_patients()  # their text is not another's
        except Exception as exc:  # noqa: BLE001 - the autosaves are then matched by the patient's faces only
            print(f"ERROR the patients left could not be listed ({type(exc).__name__}): the autosaved plans are "
                  "matched by the patient's faces only", file=sys.stderr)
            remaining, status = None, 2
        try:
            print(f"removed {forget_autosaves(p, res, remaining)} autosaved plan(s) naming the patient")
        except Exception as exc:  # noqa: BLE001 - the record is deleted: say so, never a path or the patient's data
            print(f"ERROR the autosaved plans naming the patient were not all looked through ({type(exc).__name__});"
                  " they are pruned after 30 days", file=sys.stderr)
            status = 2
    return status


def _show(rec: Any, p: Any, as_json: bool) -> int:
    visits = rec.visits(p.id)
    outcomes = {v.id: rec.outcomes(v.id) for v in visits if v.kind == "review"}
    if as_json:
        _print_json({"patient": asdict(p), "visits": [
            {**asdict(v), "outcomes": [asdict(o) for o in outcomes.get(v.id, [])],
             "photos": [{"sha256": ph.sha256, "size_bytes": ph.size_bytes} for ph in rec.photos(v.id)]}
            for v in visits]})
        return 0
    dob = p.date_of_birth.isoformat() if p.date_of_birth else "-"
    ipd = f"  interpupillary distance: {p.ipd_mm:g} mm" if p.ipd_mm is not None else ""
    print(f"patient {p.identifier}  name: {p.name or '-'}  born: {dob}{ipd}")
    if p.notes:
        print(f"notes: {p.notes}")
    for v in visits:
        _print_visit(v)
        for o in outcomes.get(v.id, []):
            fx = ", ".join(o.side_effects) or "no side effects"
            print(f"      {o.area} {o.side}: movement {o.movement}/3, {fx}")
    return 0


def _print_visit(v: Any) -> None:
    extra = f" completes visit {v.completes_visit_id}" if v.completes_visit_id else ""
    prod = f"{v.product or '-'} lot {v.lot or '-'}" + (f" (exp {v.lot_expiry.isoformat()})" if v.lot_expiry else "")
    dil = f", {v.dilution_ml:g} mL/vial" if v.dilution_ml is not None else ""
    print(f"  visit {v.id}  {v.date.isoformat()}  {v.kind:<8} by {v.clinician}  consent: "
          f"{'yes' if v.consent else 'NO'}  {prod}{dil}  plan: {'yes' if v.has_plan else 'no'}{extra}")


def _visits(rec: Any, args: argparse.Namespace) -> int:
    p = rec.find_patient(args.identifier)
    if args.visits_cmd == "list":
        visits = rec.visits(p.id)
        if args.json:
            _print_json([asdict(v) for v in visits])
        for v in [] if args.json else visits:
            _print_visit(v)
        return 0
    from injectmap.clinic.records import check_photo

    photos = [Path(f).read_bytes() for f in args.photo]
    for data in photos:
        check_photo(data)  # before the visit is added: a wrong file adds nothing
    v = rec.add_visit(p.id, args.date, args.kind, consent=args.consent, consent_at=args.consent_at,
                      product=args.product, lot=args.lot, lot_expiry=args.lot_expiry, dilution_ml=args.dilution_ml,
                      notes=args.notes, completes_visit_id=args.completes, plan_file=args.plan,
                      face_json=_plan_face(args.plan))
    for data in photos:
        rec.add_photo(v.id, data)
    print(f"added visit {v.id} ({v.kind}, {v.date.isoformat()})")
    return 0


def _plan_face(plan_file: str | None) -> str | None:
    """The text of the face file a plan file's ``model.face`` names (kept with the visit), or None."""
    if plan_file is None:
        return None
    from injectmap.clinic.records import plan_face_json
    from injectmap.planning.plan import load_plan

    return plan_face_json(load_plan(plan_file))


def _plan(rec: Any, args: argparse.Namespace) -> int:
    if args.plan_cmd == "import":
        v = rec.import_plan(args.visit, args.file, face_json=_plan_face(args.file))
        print(f"stored the plan of visit {v.id}" + (" with its fitted face" if v.face_id else ""))
        return 0
    out = rec.export_plan(args.visit, args.output)
    print(f"wrote {out}")
    return 0


def _outcome(rec: Any, args: argparse.Namespace) -> int:
    o = rec.record_outcome(args.visit, args.area, args.side, args.movement, args.side_effect)
    print(f"recorded {o.area} {o.side}: movement {o.movement}/3 at visit {o.visit_id}")
    return 0


def _photos(rec: Any, args: argparse.Namespace) -> int:
    from injectmap.anatomy.fileio import atomic_write_bytes
    from injectmap.clinic.records import RecordsError, check_photo

    cmd = args.photos_cmd
    if cmd == "add":
        files = [(Path(f).name, Path(f).read_bytes()) for f in args.files]
        for _name, data in files:
            check_photo(data)  # every file first: a wrong one adds none
        rec.visit(args.visit)
        for name, data in files:
            ph = rec.add_photo(args.visit, data, display_name=name)
            print(f"added photo {ph.id} to visit {args.visit}")
        return 0
    if cmd == "list":
        photos = rec.photos(args.visit)
        if args.json:
            _print_json([{k: v for k, v in asdict(ph).items() if k != "path"} for ph in photos])
        for ph in [] if args.json else photos:
            print(f"  photo {ph.id}  {ph.created_at.date().isoformat()}  {ph.media_type:<10} "
                  f"{ph.size_bytes / 1e6:6.2f} MB  {ph.display_name or '-'}")
        return 0
    photo = rec.photo(args.photo)
    if cmd == "export":
        atomic_write_bytes(Path(args.output), rec.photo_bytes(photo), mode=0o600)
        print(f"wrote {args.output} (owner-only)")
        return 0
    if not args.yes:
        raise RecordsError("deleting a photo cannot be undone: add --yes (export it first)")
    rec.delete_photo(photo.id)
    print(f"deleted photo {photo.id} and its file")
    return 0
