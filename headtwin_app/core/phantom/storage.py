"""Writing phantoms to case folders, and the built-in sample head kept in the user cache."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from headtwin_app.core.atomic import atomic_write_text
from headtwin_app.core.io import save_volume

PHANTOM_FILES = ("image", "labels", "brain_tissue", "brain_regions", "brain_hemispheres",
                 "tissue_classes")
SAMPLE_SEED = 0
SAMPLE_SPACING = 1.0


def generator_fingerprint() -> str:
    """Version + hash of the phantom's source, so a cached sample made by older code is redone."""
    from headtwin_app.core.phantom.generate import GENERATOR_VERSION

    h = hashlib.sha1(str(GENERATOR_VERSION).encode())
    for f in sorted(Path(__file__).parent.glob("*.py")):
        h.update(f.read_bytes())
    return f"{GENERATOR_VERSION}-{h.hexdigest()[:12]}"


def save_phantom(ph, out_dir: str | os.PathLike[str]) -> dict[str, Path]:  # type: ignore[no-untyped-def]
    """Write the six NIfTI maps and `phantom.json` (seed, spacing, sequence, tissue class names,
    label volumes in ml) into `out_dir`; returns the written paths by name ("image", ..., "json").
    """
    from headtwin_app.core.phantom.generate import GENERATOR_VERSION
    from headtwin_app.core.phantom.tissues import tissue_names

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for name in PHANTOM_FILES:
        paths[name] = save_volume(getattr(ph, name), out / f"{name}.nii.gz")
    info = {
        "seed": ph.seed,
        "spacing_mm": ph.spacing,
        "shape": list(ph.image.shape),
        "generator_version": GENERATOR_VERSION,
        "generator": generator_fingerprint(),
        "sequence": ph.sequence.as_dict(),
        "tissue_classes": {str(k): v for k, v in tissue_names().items()},
        "volumes_ml": ph.label_volumes_ml(),
        "files": {k: p.name for k, p in paths.items()},
    }
    paths["json"] = atomic_write_text(out / "phantom.json", json.dumps(info, indent=1) + "\n")
    return paths


def cache_root() -> Path:
    """`$HEADTWIN_CACHE`, else `~/.cache/headtwin`."""
    env = os.environ.get("HEADTWIN_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "headtwin"


def _is_complete(folder: Path) -> bool:
    try:
        info = json.loads((folder / "phantom.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (info.get("generator") == generator_fingerprint()
            and info.get("seed") == SAMPLE_SEED and info.get("spacing_mm") == SAMPLE_SPACING
            and all((folder / f"{n}.nii.gz").is_file() for n in PHANTOM_FILES))


def sample_case_dir() -> Path:
    """The built-in sample head (seed 0, 1 mm) as a case folder, generated on first use into
    `cache_root()/sample` and reused afterwards. The folder appears atomically (written to a
    temporary sibling, then renamed), so concurrent callers never see half a case."""
    from headtwin_app.core.phantom.generate import make_phantom

    root = cache_root()
    final = root / "sample"
    if _is_complete(final):
        return final
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".sample-", dir=root))
    try:
        save_phantom(make_phantom(SAMPLE_SEED, SAMPLE_SPACING), tmp)
        if _is_complete(final):  # another process finished first
            return final
        if final.exists():  # stale (older generator) or broken: move aside, then replace
            stale = root / f".stale-{os.getpid()}-{time.time_ns()}"
            try:
                os.rename(final, stale)
                shutil.rmtree(stale, ignore_errors=True)
            except OSError:
                pass
        try:
            os.rename(tmp, final)
        except OSError:
            if not _is_complete(final):
                raise
        return final
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
