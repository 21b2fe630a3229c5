"""`headtwin project create|import|status|auto-label|qc|export-nnunet|retrain|effort` (and the
older top-level `auto-label`): the labelling project on the same `CaseEditor` the GUI uses."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from headtwin_app.cli.args import int_in
from headtwin_app.cli.output import emit


def _auto_label_options(a: argparse.ArgumentParser) -> None:
    a.add_argument("--backend", default="builtin", choices=("builtin", "nnunet"))
    a.add_argument("--model", help="weights (builtin) or trained nnU-Net model folder")
    a.add_argument("--no-refine", action="store_true",
                   help="builtin: coarse 2 mm stage only (about 6x faster)")
    a.add_argument("--overwrite", action="store_true",
                   help="label cases that already have labels too")
    a.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    a.add_argument("--scheduler", default="serial",
                   help="'serial' (default), 'local' (an in-process Dask cluster) or a Dask "
                        "scheduler address tcp://host:8786")
    a.add_argument("--workers", type=int_in(1, 64), default=2,
                   help="local cluster workers (default 2)")
    a.add_argument("--json", action="store_true")


def register(sub: argparse._SubParsersAction) -> None:
    a = sub.add_parser("auto-label", help="label every unlabelled case of a labelling project "
                                          "(same as `project auto-label`)")
    a.add_argument("--project", required=True, help="labelling project folder")
    _auto_label_options(a)
    a.set_defaults(func=run_auto_label)

    p = sub.add_parser("project", help="labelling projects: create, import, status, auto-label, "
                                       "qc, export-nnunet, retrain, effort")
    acts = p.add_subparsers(dest="action", metavar="ACTION", parser_class=type(p))
    c = acts.add_parser("create", help="make a new, named project")
    c.add_argument("folder", help="project folder (a sub-folder named after the project is made "
                                  "when FOLDER exists and is not empty)")
    c.add_argument("--name", help="project name (default: the folder's name)")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=run_create)
    i = acts.add_parser("import", help="add the images of a folder as cases (label maps are "
                                       "skipped; a case folder's labels become its reference)")
    i.add_argument("project")
    i.add_argument("folder")
    i.add_argument("--json", action="store_true")
    i.set_defaults(func=run_import)
    s = acts.add_parser("status", help="the case queue: stage, review, labels, uncertainty")
    s.add_argument("project")
    s.add_argument("--sort", choices=("name", "uncertainty"), default="name",
                   help="'uncertainty': the cases the model is least sure of first")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=run_status)
    a = acts.add_parser("auto-label", help="stage 3: label every unlabelled case, QC report")
    a.add_argument("project")
    _auto_label_options(a)
    a.set_defaults(func=run_auto_label)
    q = acts.add_parser("qc", help="write the QC report (volumes and flags per structure)")
    q.add_argument("project")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=run_qc)
    e = acts.add_parser("export-nnunet", help="write the labelled cases as an nnU-Net raw dataset")
    e.add_argument("project")
    e.add_argument("--out", required=True, help="nnUNet_raw folder")
    e.add_argument("--dataset-id", type=int_in(1, 999), default=1)
    e.add_argument("--only-accepted", action="store_true",
                   help="only cases whose every structure is accepted or edited")
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=run_export)
    r = acts.add_parser("retrain", help="fine-tune the built-in model on the accepted cases")
    r.add_argument("project")
    r.add_argument("--iterations", type=int_in(1, 100_000), default=200)
    r.add_argument("--time-limit", type=int_in(1, 24 * 3600), default=15 * 60,
                   help="seconds (default 900)")
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=run_retrain)
    f = acts.add_parser("effort", help="edit effort per retrain round (voxels and minutes per "
                                       "case), with a plot")
    f.add_argument("project")
    f.add_argument("--plot", help="PNG to write (default: PROJECT/reports/edit_effort.png)")
    f.add_argument("--json", action="store_true")
    f.set_defaults(func=run_effort)


def _project(args: argparse.Namespace) -> Any:
    from headtwin_app.core.edit.case_editor import CaseEditor

    editor = CaseEditor()
    editor.open_project(args.project)
    return editor


def run_create(args: argparse.Namespace) -> int:
    from headtwin_app.core.edit.case_editor import CaseEditor

    project = CaseEditor().create_project(args.folder, args.name)
    emit({"project": str(project.root), "name": project.name}, args.json)
    return 0


def run_import(args: argparse.Namespace) -> int:
    editor = _project(args)
    cases: dict[str, dict[str, str]] = {}
    for step in editor.iter_import(args.folder):
        cases[step.case] = {"status": step.status, "message": step.message,
                            "source": step.source}
        print(f"[import {step.done}/{step.total}] {step.case} {step.status} "
              f"{step.message}".rstrip(), file=sys.stderr, flush=True)
    emit({"project": str(editor.project.root), "cases": cases,
          "added": sum(c["status"] == "added" for c in cases.values())}, args.json)
    return 0


def run_status(args: argparse.Namespace) -> int:
    editor = _project(args)
    rows = [{"case": r.name, "stage": r.stage, "review": r.review, "labelled": r.labelled,
             "uncertainty": r.uncertainty} for r in editor.case_rows(args.sort)]
    project = editor.project
    emit({"project": str(project.root), "name": project.name, "model_round": project.model_round,
          "cases": rows}, args.json)
    return 0


def run_auto_label(args: argparse.Namespace) -> int:
    from headtwin_app.core.seg import get_backend

    editor = _project(args)
    extra = {"refine": False} if args.no_refine and args.backend == "builtin" else {}
    backend = get_backend(args.backend, model=args.model, device=args.device, **extra)
    editor.set_model(backend, f"{backend.name} model")
    scheduler = None if args.scheduler == "local" else args.scheduler
    cases: dict[str, str] = {}
    report: tuple[Path, ...] = ()
    from headtwin_app.core.project import auto_label

    for step in auto_label(editor.project, backend.predict, overwrite=args.overwrite,
                           source=editor.model_name, scheduler=scheduler,
                           workers=args.workers):
        if step.status == "report":
            report = step.report
            continue
        cases[step.case] = step.status if not step.message else f"{step.status}: {step.message}"
        print(f"[auto-label {step.done}/{step.total}] {step.case} {step.status} "
              f"{step.message}".rstrip(), file=sys.stderr, flush=True)
    emit({"project": str(editor.project.root), "cases": cases,
          "labelled": sum(v == "labelled" for v in cases.values()),
          "failed": sum(v.startswith("failed") for v in cases.values()),
          "qc_report": [str(p) for p in report]}, args.json)
    return 0


def run_qc(args: argparse.Namespace) -> int:
    from headtwin_app.core.project import qc_plausibility, qc_rows, write_qc_report

    project = _project(args).project
    paths = write_qc_report(project)
    flags = [{"case": r.case, "structure": r.structure, "volume_ml": r.volume_ml, "flag": r.flag}
             for r in qc_rows(project) if r.flag]
    plausibility = {case: {**report.verdict(),
                           "failed_checks": [f.to_json() for f in report.failed]}
                    for case, report in qc_plausibility(project).items()}
    emit({"qc_report": [str(p) for p in paths], "flags": flags, "plausibility": plausibility},
         args.json)
    return 0


def run_export(args: argparse.Namespace) -> int:
    project = _project(args).project
    out = project.export_nnunet(args.out, args.dataset_id, only_accepted=args.only_accepted)
    emit({"dataset": str(out)}, args.json)
    return 0


def run_retrain(args: argparse.Namespace) -> int:
    editor = _project(args)
    steps = editor.iter_retrain(iterations=args.iterations, time_limit_s=float(args.time_limit))
    try:
        while True:
            p = next(steps)
            print(f"[retrain {100 * getattr(p, 'fraction', 0):.0f}%] "
                  f"{getattr(p, 'message', p)}", file=sys.stderr, flush=True)
    except StopIteration:
        pass
    emit({"project": str(editor.project.root), "model_round": editor.project.model_round,
          "model": editor.model_name}, args.json)
    return 0


def run_effort(args: argparse.Namespace) -> int:
    from headtwin_app.core.edit_effort import edit_effort, write_effort_plot

    project = _project(args).project
    rows = edit_effort(project)
    plot = write_effort_plot(rows, args.plot or project.root / "reports" / "edit_effort.png")
    emit({"rounds": [r.__dict__ for r in rows], "plot": str(plot)}, args.json)
    return 0
