"""Argument types that validate where parameters enter the command line, and a parser whose
usage errors are one line like every other error (`headtwin: error: ...`, exit 2)."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from typing import NoReturn

EXIT_USAGE = 2


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage block before them)."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("headtwin").strip()
        hint = f" (see headtwin {command} --help)" if command else " (see headtwin --help)"
        sys.stderr.write(f"headtwin: error: {message}{hint}\n")
        sys.exit(EXIT_USAGE)


def _number(kind: Callable[[str], float], text: str) -> float:
    try:
        value = kind(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"'{text}' is not a finite number")
    return value


def int_in(lo: int | None = None, hi: int | None = None) -> Callable[[str], int]:
    """A whole number within [lo, hi] (either bound may be open)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
        if lo is not None and value < lo or hi is not None and value > hi:
            raise argparse.ArgumentTypeError(f"{value} is outside {_range(lo, hi)}")
        return value

    parse.__name__ = "whole number"
    return parse


def float_in(lo: float | None = None, hi: float | None = None, lo_open: bool = False,
             ) -> Callable[[str], float]:
    """A finite number within [lo, hi] ((lo, hi] when `lo_open`)."""

    def parse(text: str) -> float:
        value = _number(float, text)
        low_bad = lo is not None and (value <= lo if lo_open else value < lo)
        if low_bad or hi is not None and value > hi:
            raise argparse.ArgumentTypeError(f"{value:g} is outside "
                                             f"{_range(lo, hi, lo_open)}")
        return value

    parse.__name__ = "number"
    return parse


def _range(lo: float | None, hi: float | None, lo_open: bool = False) -> str:
    if lo is None:
        return f"the allowed range (at most {hi:g})"
    if hi is None:
        return f"the allowed range ({'>' if lo_open else '>='} {lo:g})"
    return f"{'(' if lo_open else '['}{lo:g}, {hi:g}]"


POSITIVE_INT = int_in(1)
NONNEG_INT = int_in(0)
SEED = int_in(0, 2**32 - 1)
ACCEL = float_in(1.0, 1000.0)
FRACTION = float_in(0.0, 1.0)
