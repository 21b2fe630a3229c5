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


def _check_contrast(contrast: str) -> str:
    from headtwin_app.core.phantom.sequences import CONTRASTS

    if not isinstance(contrast, str) or contrast.lower() not in CONTRASTS:
        raise ValueError(f"sample contrast must be one of {', '.join(CONTRASTS)}, "
                         f"got {contrast!r}")
    return contrast.lower()


def sample_folder_name(contrast: str = "pd") -> str:
    """`sample` for the PD head (the folder it always had), `sample-t1` etc. for the others."""
    contrast = _check_contrast(contrast)
    return "sample" if contrast == "pd" else f"sample-{contrast}"


def sample_contrast(path: str | os.PathLike[str] | None) -> str | None:
    """The contrast of the built-in sample head stored at `path` (a folder `sample_case_dir`
    made, in the current cache), or None when `path` is anything else."""
    from headtwin_app.core.phantom.sequences import CONTRASTS

    if path is None:
        return None
    try:
        p = Path(path).resolve()
        root = cache_root().resolve()
    except (OSError, RuntimeError):
        return None
    if p.parent != root:
        return None
    return next((c for c in CONTRASTS if p.name == sample_folder_name(c)), None)


def _is_complete(folder: Path, contrast: str = "pd") -> bool:
    from headtwin_app.core.phantom.sequences import PRESETS

    try:
        info = json.loads((folder / "phantom.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (info.get("generator") == generator_fingerprint()
            and info.get("seed") == SAMPLE_SEED and info.get("spacing_mm") == SAMPLE_SPACING
            and info.get("sequence") == PRESETS[contrast].as_dict()
            and all((folder / f"{n}.nii.gz").is_file() for n in PHANTOM_FILES))


def sample_is_cached(contrast: str = "pd") -> bool:
    """True when `sample_case_dir(contrast)` will return at once (nothing to generate)."""
    contrast = _check_contrast(contrast)
    return _is_complete(cache_root() / sample_folder_name(contrast), contrast)


def sample_case_dir(contrast: str = "pd") -> Path:
    """The built-in sample head (seed 0, 1 mm) imaged in `contrast` (t1, t2, pd or flair; the
    same anatomy, noise and bias in each) as a case folder, generated on first use into
    `cache_root()/sample` (PD) or `cache_root()/sample-<contrast>` and reused afterwards. The
    folder appears atomically (written to a temporary sibling, then renamed), so concurrent
    callers never see half a case.

    Raises:
        ValueError: `contrast` is not one of the presets.
    """
    from headtwin_app.core.phantom.generate import make_phantom

    contrast = _check_contrast(contrast)
    name = sample_folder_name(contrast)
    root = cache_root()
    final = root / name
    if _is_complete(final, contrast):
        return final
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=root))
    try:
        save_phantom(make_phantom(SAMPLE_SEED, SAMPLE_SPACING, contrast), tmp)
        if _is_complete(final, contrast):  # another process finished first
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
            if not _is_complete(final, contrast):
                raise
        return final
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
