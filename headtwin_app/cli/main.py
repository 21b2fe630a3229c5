"""`headtwin` entry point: builds the sub-command parser and applies the error policy.

Each sub-command lives in its own module with `register(subparsers)`; its handler returns an exit
code. A user-facing failure (`core.errors.user_message`: bad input or argument, unwritable or
full output, missing device or package) prints `headtwin: error: ...` as one line and exits 2.
Anything else is a bug: its traceback goes to the log, one line names the log, exit 70.
Library warnings go to the log too, never to the terminal.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence

from headtwin_app.cli.args import EXIT_USAGE, Parser
from headtwin_app.core.errors import bug_message, log_bug, route_warnings_to_log, user_message

# One module per group of commands; each defines register(subparsers).
COMMAND_MODULES = (
    "headtwin_app.cli.io_cmd",
    "headtwin_app.cli.phantom_cmd",
    "headtwin_app.cli.mesh_cmd",
    "headtwin_app.cli.recon_cmd",
    "headtwin_app.cli.recon_cine_cmd",
    "headtwin_app.cli.enhance_cmd",
    "headtwin_app.cli.kspace_cmd",
    "headtwin_app.cli.seg_cmd",
    "headtwin_app.cli.grow_cmd",
    "headtwin_app.cli.uncertainty_cmd",
    "headtwin_app.cli.plausibility_cmd",
    "headtwin_app.cli.pipeline_cmd",
    "headtwin_app.cli.project_cmd",
    "headtwin_app.cli.cardiac_cmd",
    "headtwin_app.cli.cardiac_synth_cmd",
    "headtwin_app.cli.cardiac_velocity_cmd",
    "headtwin_app.cli.cardiac_interp_cmd",
)

EXIT_BUG = 70  # EX_SOFTWARE


def build_parser() -> Parser:
    parser = Parser(
        prog="headtwin",
        description="HeadTwin Studio from the command line: head MRI k-space to a 3D head twin.",
    )
    parser.add_argument("--version", action="version", version="%(prog)s 0.1.0")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    route_warnings_to_log()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as done:  # --help, --version, or a one-line usage error
        return int(done.code or 0) if not isinstance(done.code, str) else EXIT_USAGE
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler below
        return code
    except KeyboardInterrupt:
        print("headtwin: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`headtwin ... --json | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as exc:  # noqa: BLE001 - the error policy decides what the user sees
        msg = user_message(exc)
        if msg is not None:
            print(f"headtwin: error: {msg}", file=sys.stderr)
            return EXIT_USAGE
        log = log_bug(exc, "headtwin " + " ".join(sys.argv[1:] if argv is None else argv))
        print(f"headtwin: {bug_message(exc, log)}", file=sys.stderr)
        return EXIT_BUG


if __name__ == "__main__":
    sys.exit(main())
