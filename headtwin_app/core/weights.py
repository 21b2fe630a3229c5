"""Weight files treated as untrusted input: read without running code, bounded before a network
is built from them, written atomically.

`torch.load(weights_only=True)` refuses any pickle that asks for a class outside torch's
allow-list (what a crafted checkpoint uses to run a command). A checkpoint's config is bounded
before anything is built, and the network is first built on the `meta` device (no memory) to
check that the file really holds the parameters its config asks for — a 1 KB file whose config
asks for 10⁶ cascades is refused in milliseconds instead of building gigabytes of tensors.
"""

from __future__ import annotations

import math
import os
import pickle
from collections.abc import Callable, Iterable, Mapping
from contextlib import nullcontext
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from headtwin_app.core.atomic import atomic_write
from headtwin_app.core.errors import OutputError, UserError, one_line

Net = TypeVar("Net", bound=nn.Module)


class ModelFileError(UserError):
    """A weight file that is missing, unreadable, refused, or not the model asked for."""


def load_weights(path: str | os.PathLike[str], what: str, missing: str = "",
                 allowed: Iterable[Any] = ()) -> dict[str, Any]:
    """The dict stored in `path`, read with `weights_only=True` (plus the extra `allowed`
    globals, e.g. numpy scalar types for nnU-Net). Clear `ModelFileError` otherwise."""
    p = Path(path)
    if not p.is_file():
        raise ModelFileError(f"{p}: {missing or what + ' not found'}")
    extra = list(allowed)
    guard = torch.serialization.safe_globals(extra) if extra else nullcontext()
    try:
        with guard:
            ck = torch.load(str(p), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "global" in str(exc).lower():  # weights_only met a class or function to import
            raise ModelFileError(f"{p}: refused: the file asks to load code or objects that a "
                                 f"{what} never holds (it may be malicious)") from None
        raise ModelFileError(f"{p}: not a {what} (the file is damaged or of another "
                             "kind)") from None
    except Exception as exc:  # zip/pickle/torch errors of every kind mean a bad file
        raise ModelFileError(f"{p}: not a {what} "
                             f"({one_line(str(exc), 120) or type(exc).__name__})") from None
    if not isinstance(ck, dict):
        raise ModelFileError(f"{p}: not a {what} (it holds a {type(ck).__name__}, not a dict)")
    return ck


def check_config(config: Any, bounds: Mapping[str, tuple[float, float]], p: Path,
                 what: str) -> dict[str, Any]:
    """`config` must be a dict whose bounded fields are numbers within [lo, hi]."""
    if not isinstance(config, dict):
        raise ModelFileError(f"{p}: not a {what} (no architecture config)")
    for key, (lo, hi) in bounds.items():
        value = config.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                not math.isfinite(value) or not lo <= value <= hi:
            raise ModelFileError(f"{p}: config field '{key}' = {value!r} is outside "
                                 f"[{lo:g}, {hi:g}]; not a usable {what}")
    return config


def state_dict_of(ck: Mapping[str, Any], p: Path, what: str,
                  key: str = "state_dict") -> dict[str, torch.Tensor]:
    state = ck.get(key)
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor)
                                                 for v in state.values()):
        raise ModelFileError(f"{p}: not a {what} (no tensor weights under '{key}')")
    return dict(state)


def build_checked(build: Callable[[], Net], state: Mapping[str, torch.Tensor], p: Path,
                  what: str) -> Net:
    """`build()` loaded with `state`, after checking on the meta device (no memory) that the
    architecture holds exactly the values stored."""
    try:
        with torch.device("meta"):
            probe = build()
        need = sum(t.numel() for t in probe.state_dict().values())
    except (ValueError, TypeError, KeyError, RuntimeError) as exc:
        raise ModelFileError(f"{p}: not a usable {what} ({one_line(str(exc), 120)})") from None
    have = sum(t.numel() for t in state.values())
    if need != have:
        raise ModelFileError(f"{p}: the weights do not match their config ({have} values "
                             f"stored, the architecture needs {need})")
    net = build()
    try:
        net.load_state_dict(state)
    except RuntimeError as exc:
        raise ModelFileError(f"{p}: the weights do not match their config "
                             f"({one_line(str(exc), 120)})") from None
    return net


def save_weights(obj: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """torch.save through a temporary file and a rename: never half a checkpoint."""

    def write(tmp: Path) -> None:
        try:
            torch.save(obj, str(tmp))
        except RuntimeError as exc:  # torch's zip writer reports a failed write this way
            raise OutputError(f"{path}: cannot write the weights (the disk may be full; "
                              f"{one_line(str(exc), 80)})") from None

    return atomic_write(path, write)
