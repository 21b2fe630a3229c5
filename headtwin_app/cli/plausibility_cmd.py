"""`headtwin plausibility`: anatomical plausibility flags of a craniofacial/CNS label map (volume
ranges, two eyes, left/right symmetry, vertical order, the brain level; `core.seg.plausibility`)."""

from __future__ import annotations

import argparse

from headtwin_app.cli.output import emit


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plausibility",
                       help="does a label map look like a head? volumes, eyes, symmetry, order")
    p.add_argument("--labels", required=True,
                   help="craniofacial/CNS label map (ids 1-12; any orientation)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run_plausibility)


def run_plausibility(args: argparse.Namespace) -> int:
    """Exit 0 whatever the verdict (it is in the output); 2 for a file that cannot be read."""
    from headtwin_app.core.labelmap import load_label_map
    from headtwin_app.core.seg.plausibility import check_plausibility

    labels = load_label_map(args.labels, allow_unknown=True)
    report = check_plausibility(labels)
    if args.json:
        emit({"labels": args.labels, **report.verdict(), "plausibility": report.to_json()}, True)
        return 0
    print(f"labels: {args.labels}")
    for f in report.flags:
        print(f"{'ok  ' if f.passed else 'FAIL'} {f.message}")
    print(report.message)
    return 0
