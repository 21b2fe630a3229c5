"""Files that ship inside the package — the trained weights (`models/`) and the label table
(`resources/`) — found through `importlib.resources`, so an installed wheel works without the
repository (in a checkout they are symlinks to the top-level folders)."""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path


def data_path(*parts: str) -> Path:
    """A packaged file or folder as a real path (wheels install unpacked, so it is one)."""
    ref = files("headtwin_app").joinpath(*parts)
    if not isinstance(ref, os.PathLike):
        raise FileNotFoundError(f"headtwin_app/{'/'.join(parts)}: the package is not installed "
                                "as files (a zipped install is not supported)")
    return Path(ref)


MODELS_DIR = data_path("models")
RESOURCES_DIR = data_path("resources")
