"""`headtwin auto-label`: the labelling engine's stage 3 over a project, as the GUI runs it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from headtwin_app.cli.args import int_in
from headtwin_app.cli.output import emit


def register(sub: argparse._SubParsersAction) -> None:
    a = sub.add_parser("auto-label", help="label every unlabelled case of a labelling project")
    a.add_argument("--project", required=True, help="labelling project folder")
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
    a.set_defaults(func=run_auto_label)


def run_auto_label(args: argparse.Namespace) -> int:
    from headtwin_app.core.project import Project, auto_label
    from headtwin_app.core.seg import get_backend

    project = Project.open(args.project)
    extra = {"refine": False} if args.no_refine and args.backend == "builtin" else {}
    backend = get_backend(args.backend, model=args.model, device=args.device, **extra)
    scheduler = None if args.scheduler == "local" else args.scheduler
    cases: dict[str, str] = {}
    report: tuple[Path, ...] = ()
    for step in auto_label(project, backend.predict, overwrite=args.overwrite,
                           source=f"{backend.name} model", scheduler=scheduler,
                           workers=args.workers):
        if step.status == "report":
            report = step.report
            continue
        cases[step.case] = step.status if not step.message else f"{step.status}: {step.message}"
        print(f"[auto-label {step.done}/{step.total}] {step.case} {step.status} "
              f"{step.message}".rstrip(), file=sys.stderr, flush=True)
    emit({"project": str(project.root), "cases": cases,
          "labelled": sum(v == "labelled" for v in cases.values()),
          "failed": sum(v.startswith("failed") for v in cases.values()),
          "qc_report": [str(p) for p in report]}, args.json)
    return 0
