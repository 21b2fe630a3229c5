"""One enhancement job for the CLI and the GUI: read an image (NIfTI or any volume format, a DICOM
file or a DICOM series folder), build its context, enhance every slice at the requested noise
reduction factor, and write the result in the input's own kind — a derived DICOM series for
DICOM, the input's voxel grid for the rest.
"""

from __future__ import annotations

import json
import time
from collections.abc import Generator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from headtwin_app.core.enhance.context import Context
from headtwin_app.core.package_data import MODELS_DIR

MODEL_2D = MODELS_DIR / "enhance_ce.pt"
MODEL_3D = MODELS_DIR / "enhance_ce3d.pt"


def is_dicom(path: str | Path) -> bool:
    """A DICOM file, or a folder of them."""
    from headtwin_app.core.io.dicom import looks_like_dicom

    p = Path(path)
    if p.is_dir():
        return any(f.is_file() and looks_like_dicom(f) for f in sorted(p.iterdir())[:50])
    return p.is_file() and looks_like_dicom(p)


def read_context_file(path: str | Path, nrf: float) -> Context:
    """A context JSON object (Context fields); its "nrf", if any, yields to the requested one."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read the context file {p}: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{p}: a context is a JSON object {{...}}")
    data = {**data, "nrf": nrf}
    try:
        return Context.from_dict(data)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{p}: {exc}") from None


def choose_model(is_3d: bool, model_path: str | Path | None) -> Path:
    """The given model, else the 7-slice network for 3D acquisitions (when shipped), else 2D."""
    if model_path is not None:
        return Path(model_path)
    return MODEL_3D if is_3d and MODEL_3D.is_file() else MODEL_2D


def enhance_steps(path: str | Path, nrf: float, out: str | Path,
                  context: Context | str | Path | None = None,
                  model_path: str | Path | None = None
                  ) -> Generator[Any, None, dict[str, Any]]:
    """Read, enhance and write; yields stage names and `Progress`, returns the JSON-able report
    (context used and where each value came from, NRF, model, seconds, output paths).

    `context`: None or "auto" (from DICOM tags; for other formats the defaults: nothing but
    noise to remove), a JSON file of Context fields, or a Context (its NRF is replaced by `nrf`).
    `nrf` is the noise reduction asked for; the network's context gets the NRF the model's
    calibration table says delivers it, mixed with the input below the network's reach
    (`calibrate.setting`).
    """
    from headtwin_app.core.enhance.calibrate import mix, setting
    from headtwin_app.core.enhance.predict import enhance_iter, enhance_scale, load_enhance_model

    if not nrf >= 1.0:
        raise ValueError(f"the noise reduction factor must be >= 1, got {nrf:g}")
    yield "reading"
    dicom = is_dicom(path)
    if dicom:
        from headtwin_app.core.enhance.dicom_io import context_from_tags, read_dicom, standardise

        image = read_dicom(path)
        std = standardise(image)
        slices, is_3d = std.pixels, bool(image.is_3d)
        tag_ctx, sources = context_from_tags(image, nrf)
    else:
        from headtwin_app.core.io import load_volume

        vol = load_volume(path)
        raw = np.ascontiguousarray(np.asarray(vol.data, np.float32).transpose(2, 1, 0))
        scale = enhance_scale(raw)
        slices, is_3d = raw / np.float32(scale), False
        tag_ctx = Context(nrf=nrf)
        sources = {"all": "defaults: a non-DICOM image carries no sampling tags (pass --context "
                          "FILE.json to describe its sampling)"}
    if isinstance(context, Context):
        ctx, sources = replace(context, nrf=nrf), {"all": "given by the caller"}
    elif context not in (None, "auto"):
        ctx, sources = read_context_file(context, nrf), {"all": f"from {context}"}
    else:
        ctx = tag_ctx
    model_file = choose_model(is_3d, model_path)
    model = load_enhance_model(model_file)
    asked, weight, how = setting(model, nrf)
    ctx = replace(ctx, nrf=asked)
    if model.config.in_slices == 1 and ctx.is_3d:
        sources = {**sources, "network": "3D acquisition, but the 2D (one-slice) network was "
                                         "used: no 7-slice network was given or shipped"}
    yield "enhancing"
    t0 = time.perf_counter()
    enhanced = mix((yield from enhance_iter(slices, ctx, model)), slices, weight)
    seconds = time.perf_counter() - t0
    yield "writing"
    description = f"all-in-one NRF {nrf:g}"
    if dicom:
        from headtwin_app.core.enhance.dicom_io import unstandardise, write_derived_series

        pixels = unstandardise(enhanced, std)
        files = write_derived_series(image, pixels, out, description, model_file.name, nrf)
        written: dict[str, Any] = {"out": str(out), "files": len(files), "format": "DICOM"}
    else:
        from headtwin_app.core.io import save_volume
        from headtwin_app.core.io.grid import to_source_grid

        data = np.ascontiguousarray((enhanced * np.float32(scale)).transpose(2, 1, 0))
        out_vol = to_source_grid(vol.with_data(data, enhanced=description), vol)
        written = {"out": str(save_volume(out_vol, out)), "format": Path(out).suffix}
    return {"image": str(path), "nrf": nrf, "context_nrf": round(asked, 4),
            "mix": round(weight, 4), "nrf_mapping": how,
            "context": ctx.to_dict(), "context_sources": sources,
            "model": str(model_file), "network": "7-slice" if model.config.in_slices > 1
            else "2D", "variant": model.config.variant, "slices": int(len(slices)),
            "shape": list(slices.shape[1:]), "seconds": round(seconds, 3), **written}
