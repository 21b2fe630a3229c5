"""`headtwin` entry point: builds the sub-command parser and turns errors into one-line messages.

Each sub-command lives in its own module with `register(subparsers)`; its handler returns an exit
code. Input errors (`ValueError`, including `VolumeError`) print `headtwin: error: ...` and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

# One module per group of commands; each defines register(subparsers).
COMMAND_MODULES = (
    "headtwin_app.cli.io_cmd",
    "headtwin_app.cli.phantom_cmd",
    "headtwin_app.cli.mesh_cmd",
    "headtwin_app.cli.recon_cmd",
    "headtwin_app.cli.kspace_cmd",
    "headtwin_app.cli.seg_cmd",
)

EXIT_USAGE = 2


class CliError(ValueError):
    """A user-facing error: printed as one line, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="headtwin",
        description="HeadTwin Studio from the command line: head MRI k-space to a 3D head twin.",
    )
    parser.add_argument("--version", action="version", version="%(prog)s 0.1.0")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler below
        return code
    except (ValueError, FileNotFoundError, KeyError) as exc:
        msg = str(exc).strip("'\"") or type(exc).__name__
        print(f"headtwin: error: {msg}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("headtwin: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`headtwin ... --json | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
