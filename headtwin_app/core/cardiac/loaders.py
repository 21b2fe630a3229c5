"""Loading a user's own velocity-mapping cine into a `CardiacCase`.

No real cardiac MR ships with the app; these loaders are how a user brings their own. Every
array is (x, y, slice, frame[, 3]) with x along an image row (the DICOM column index), y down
the image (the row index); the three components are in-plane x, in-plane y and through-plane.

`load_cardiac(path, venc=None)` accepts:

* **A case folder** (`case.json` + `magnitude.nii.gz`, ...), as `headtwin cardiac-phantom` writes.
* **`.npz`** (numpy) or **`.h5` / `.hdf5`** (HDF5; datasets at the root, scalars as datasets or
  root attributes) with the keys
    - `magnitude` (required): (x, y, slice, frame), or (x, y, frame) for one slice;
    - `phase`: (x, y, slice, frame, 3) radians in (−π, π], φ = π v / venc; and/or
    - `velocity`: (x, y, slice, frame, 3) mm/s (one of phase / velocity is required);
    - `lv_mask` (optional): (x, y, slice, frame), 1 myocardium, 2 blood pool, 0 elsewhere;
    - `venc` (or `venc_mm_s`): mm/s, one value or three (x, y, through-plane); required with
      `phase` unless given as the `venc=` argument;
    - `rr_ms` (optional): the R-R interval in ms; `frame_times_ms` (optional);
    - `spacing_mm` (optional): in-plane (dx, dy) or one value; 1 mm when absent (the curves in
      mm/s do not depend on it unless the pixels are not square);
    - `z_towards_base` (optional, default true): the through-plane component is + towards the
      LV base (false: towards the apex).
* **A phase-contrast DICOM folder** (one file per image, read with pydicom): images are grouped
  by SeriesInstanceUID and ImageType (`M` magnitude, `P` phase), frames ordered by TriggerTime,
  slices by SliceLocation (else ImagePositionPatient along the slice normal). A phase image's
  direction comes from VelocityEncodingDirection (0018,9090) projected on the image axes, else
  from a Siemens sequence name (`fl2d1_v20in` → through-plane, `…rl`/`…ap`/`…fh` → the
  patient axis that lies closest to an image axis), else from the series order (x, y,
  through-plane by SeriesNumber). Phase pixel values are 12-bit (0…4095, the Siemens convention):
  φ = (v − 2048) / 2048 · π on the stored values; when a rescale with a negative intercept is
  present (e.g. slope 2, intercept −4096), the rescaled range [intercept, −intercept] spans
  (−π, π]. The venc comes from VelocityEncodingMaximumValue (0018,9217, in the
  MRVelocityEncodingSequence (0018,9197) or at the top level) or the sequence name's `_v<N>`,
  both in cm/s as DICOM and Siemens state it; a `venc=` argument (mm/s) overrides both and is
  required when neither is present. The R-R interval is NominalInterval (0018,1062). DICOM
  carries no LV mask: give one with `load_array_file`. The through-plane component is + along
  the slice normal (row × column direction cosines), taken as towards the base
  (`z_towards_base` in the case's info; flip it when the stack runs the other way).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from headtwin_app.core.cardiac.phantom import CardiacCase
from headtwin_app.core.errors import MissingPackageError, UserError

H5_SUFFIXES = (".h5", ".hdf5")
VencArg = float | list[float] | tuple[float, ...] | np.ndarray | None
_SEQ_VENC = re.compile(r"_v(\d+(?:\.\d+)?)(in|through|rl|lr|ap|pa|fh|hf)", re.IGNORECASE)
_PATIENT_AXES = {"rl": (1.0, 0.0, 0.0), "lr": (1.0, 0.0, 0.0), "ap": (0.0, 1.0, 0.0),
                 "pa": (0.0, 1.0, 0.0), "fh": (0.0, 0.0, 1.0), "hf": (0.0, 0.0, 1.0)}


def load_cardiac(path: str | os.PathLike[str], venc: VencArg = None) -> CardiacCase:
    """A case folder, `.npz`, `.h5` or phase-contrast DICOM folder → CardiacCase (see the module
    docstring for the layouts). `venc` (mm/s, one or three values) overrides the file's."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"{p}: no such file or folder")
    if p.is_dir():
        if (p / "case.json").is_file():
            from headtwin_app.core.cardiac.store import load_case

            case = load_case(p)
            if venc is not None:
                case.info["venc_mm_s"] = venc_list(venc, str(p))
            return case
        return load_dicom_folder(p, venc)
    suffix = p.suffix.lower()
    if suffix == ".npz":
        return load_npz(p, venc)
    if suffix in H5_SUFFIXES:
        return load_h5(p, venc)
    raise UserError(f"{p}: not a cardiac case (expected a case folder, a DICOM folder, .npz, "
                    ".h5 or .hdf5)")


def venc_list(venc: Any, where: str) -> list[float]:
    """One or three positive velocities (mm/s) → [x, y, through-plane]."""
    try:
        v = np.asarray(venc, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise UserError(f"{where}: venc must be numbers in mm/s, got {venc!r}") from None
    if v.size == 1:
        v = np.repeat(v, 3)
    if v.size != 3 or not np.all(np.isfinite(v)) or np.any(v <= 0):
        raise UserError(f"{where}: venc must be one positive value or three (x, y, "
                        f"through-plane) in mm/s, got {np.asarray(venc).tolist()}")
    return [float(x) for x in v]


def _info(magnitude: np.ndarray, source: str, spacing: tuple[float, float],
          venc: list[float] | None, rr_ms: float | None,
          frame_times_ms: list[float] | None, z_towards_base: bool, **extra: Any
          ) -> dict[str, Any]:
    frames = magnitude.shape[3]
    if frame_times_ms is None and rr_ms is not None:
        frame_times_ms = [rr_ms * f / frames for f in range(frames)]
    return {
        "synthetic": False, "source": source,
        "frames": int(frames), "slices": int(magnitude.shape[2]),
        "size": [int(magnitude.shape[0]), int(magnitude.shape[1])],
        "spacing_mm": [float(spacing[0]), float(spacing[1])],
        "rr_ms": rr_ms, "frame_times_ms": frame_times_ms, "venc_mm_s": venc,
        "velocity_axes": ["x", "y", "through-plane"], "z_towards_base": bool(z_towards_base),
        **extra,
    }


def _as_4d(arr: np.ndarray, name: str, where: str, vector: bool) -> np.ndarray:
    want = 5 if vector else 4
    if arr.ndim == want - 1:  # one slice: (x, y, frame[, 3])
        arr = arr[:, :, None]
    if arr.ndim != want or (vector and arr.shape[-1] != 3):
        layout = "(x, y, slice, frame, 3)" if vector else "(x, y, slice, frame)"
        raise UserError(f"{where}: '{name}' must be {layout}, got shape {tuple(arr.shape)}")
    return arr


def case_from_arrays(arrays: dict[str, Any], where: str, venc: VencArg = None,
                     source: str = "arrays") -> CardiacCase:
    """A CardiacCase from the npz/h5 keys (module docstring); `where` names the file in errors."""
    if "magnitude" not in arrays:
        raise UserError(f"{where}: no 'magnitude' array (keys: {', '.join(sorted(arrays))})")
    if "phase" not in arrays and "velocity" not in arrays:
        raise UserError(f"{where}: needs a 'phase' (radians) or a 'velocity' (mm/s) array "
                        f"(keys: {', '.join(sorted(arrays))})")
    mag = _as_4d(np.asarray(arrays["magnitude"], np.float32), "magnitude", where, False)
    grid = mag.shape
    phase = velocity = lv_mask = None
    if "phase" in arrays:
        phase = _as_4d(np.asarray(arrays["phase"], np.float32), "phase", where, True)
        if np.nanmax(np.abs(phase)) > np.pi + 1e-3:
            raise UserError(f"{where}: 'phase' must be radians in (-pi, pi] (max |phase| "
                            f"{float(np.nanmax(np.abs(phase))):.4g})")
    if "velocity" in arrays:
        velocity = _as_4d(np.asarray(arrays["velocity"], np.float32), "velocity", where, True)
    if "lv_mask" in arrays:
        lv_mask = _as_4d(np.asarray(arrays["lv_mask"]), "lv_mask", where, False)
        if not np.all(np.isin(np.unique(lv_mask), (0, 1, 2))):
            raise UserError(f"{where}: 'lv_mask' must hold 0, 1 (myocardium) and 2 (blood "
                            "pool) only")
        lv_mask = lv_mask.astype(np.uint8)
    for name, arr in (("phase", phase), ("velocity", velocity), ("lv_mask", lv_mask)):
        if arr is not None and arr.shape[:4] != grid:
            raise UserError(f"{where}: '{name}' grid {tuple(arr.shape[:4])} does not match "
                            f"the magnitude's {tuple(grid)}")
    v = venc if venc is not None else arrays.get("venc", arrays.get("venc_mm_s"))
    venc_mm = venc_list(v, where) if v is not None else None
    if phase is not None and velocity is None and venc_mm is None:
        raise UserError(f"{where}: phase without a venc: add a 'venc' key (mm/s, one value or "
                        "x, y, through-plane) or pass --venc")
    sp = np.asarray(arrays.get("spacing_mm", 1.0), np.float64).reshape(-1)
    if sp.size not in (1, 2, 3) or np.any(sp <= 0):
        raise UserError(f"{where}: 'spacing_mm' must be one or two positive values (dx, dy)")
    spacing = (float(sp[0]), float(sp[1] if sp.size > 1 else sp[0]))
    rr = arrays.get("rr_ms")
    rr_ms = float(np.asarray(rr).reshape(-1)[0]) if rr is not None else None
    ft = arrays.get("frame_times_ms")
    frame_times = [float(x) for x in np.asarray(ft).reshape(-1)] if ft is not None else None
    if frame_times is not None and len(frame_times) != grid[3]:
        raise UserError(f"{where}: 'frame_times_ms' has {len(frame_times)} values for "
                        f"{grid[3]} frames")
    ztb = bool(np.asarray(arrays.get("z_towards_base", True)).reshape(-1)[0])
    affine = np.diag([spacing[0], spacing[1], 1.0, 1.0])
    info = _info(mag, source, spacing, venc_mm, rr_ms, frame_times, ztb,
                 spacing_assumed="spacing_mm" not in arrays)
    return CardiacCase(magnitude=mag, phase=phase, velocity=velocity, lv_mask=lv_mask,
                       tissues=None, affine=affine, info=info)


def load_npz(path: str | os.PathLike[str], venc: VencArg = None) -> CardiacCase:
    p = Path(path)
    try:
        with np.load(p, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise UserError(f"{p}: not a readable .npz file ({exc})") from None
    return case_from_arrays(arrays, str(p), venc, source=f"npz:{p.name}")


def _h5py() -> Any:
    try:
        import h5py
    except ImportError:
        raise MissingPackageError("reading .h5 needs the h5py package (pip install h5py), or "
                                  "save the arrays as .npz") from None
    return h5py


def load_h5(path: str | os.PathLike[str], venc: VencArg = None) -> CardiacCase:
    h5py = _h5py()
    p = Path(path)
    arrays: dict[str, Any] = {}
    try:
        with h5py.File(p, "r") as f:
            for k, val in f.attrs.items():
                arrays[k] = np.asarray(val)
            for k, ds in f.items():
                if isinstance(ds, h5py.Dataset):
                    arrays[k] = np.asarray(ds[()])
    except OSError as exc:
        raise UserError(f"{p}: not a readable HDF5 file ({exc})") from None
    return case_from_arrays(arrays, str(p), venc, source=f"h5:{p.name}")


def load_array_file(path: str | os.PathLike[str], key: str) -> np.ndarray:
    """One array from a file: NIfTI (.nii/.nii.gz), .npy, .npz or .h5 (the `key` array, or the
    only one), e.g. a phase (x, y, slice, frame, 3) or an LV mask (x, y, slice, frame)."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{p}: no such file")
    name = p.name.lower()
    if name.endswith((".nii", ".nii.gz")):
        import nibabel as nib

        try:
            img: Any = nib.load(str(p))
            return np.asarray(img.dataobj)
        except Exception as exc:  # noqa: BLE001 - nibabel raises many types for bad files
            raise UserError(f"{p}: not a readable NIfTI file ({exc})") from None
    if name.endswith(".npy"):
        try:
            return np.asarray(np.load(p, allow_pickle=False))
        except (OSError, ValueError) as exc:
            raise UserError(f"{p}: not a readable .npy file ({exc})") from None
    if name.endswith(".npz"):
        try:
            with np.load(p, allow_pickle=False) as z:
                files = list(z.files)
                if key in files:
                    return np.asarray(z[key])
                if len(files) == 1:
                    return np.asarray(z[files[0]])
        except (OSError, ValueError) as exc:
            raise UserError(f"{p}: not a readable .npz file ({exc})") from None
        raise UserError(f"{p}: no '{key}' array (keys: {', '.join(files)})")
    if name.endswith(H5_SUFFIXES):
        h5py = _h5py()
        try:
            with h5py.File(p, "r") as f:
                names = [k for k, v in f.items() if isinstance(v, h5py.Dataset)]
                if key in names:
                    return np.asarray(f[key][()])
                if len(names) == 1:
                    return np.asarray(f[names[0]][()])
        except OSError as exc:
            raise UserError(f"{p}: not a readable HDF5 file ({exc})") from None
        raise UserError(f"{p}: no '{key}' dataset (datasets: {', '.join(names)})")
    raise UserError(f"{p}: unsupported file for '{key}' (use .nii.gz, .npy, .npz or .h5)")


# --- DICOM -------------------------------------------------------------------------------------

def _image_kind(ds: Any) -> str:
    vals = [str(x).upper() for x in (getattr(ds, "ImageType", None) or [])]
    comp = str(getattr(ds, "ComplexImageComponent", "")).upper()
    if comp == "PHASE" or any(v in ("P", "PHASE", "VELOCITY") for v in vals):
        return "P"
    return "M"


def _venc_tag_cm(ds: Any) -> float | None:
    for item in getattr(ds, "MRVelocityEncodingSequence", None) or []:
        if "VelocityEncodingMaximumValue" in item:
            return float(item.VelocityEncodingMaximumValue)
    if "VelocityEncodingMaximumValue" in ds:
        return float(ds.VelocityEncodingMaximumValue)
    return None


def _venc_direction(ds: Any) -> np.ndarray | None:
    for item in getattr(ds, "MRVelocityEncodingSequence", None) or []:
        if "VelocityEncodingDirection" in item:
            return np.asarray(item.VelocityEncodingDirection, np.float64)
    if "VelocityEncodingDirection" in ds:
        return np.asarray(ds.VelocityEncodingDirection, np.float64)
    return None


def _geometry(ds: Any, where: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row and column direction cosines and the slice normal."""
    iop = getattr(ds, "ImageOrientationPatient", None)
    if iop is None:
        row, col = np.array([1.0, 0, 0]), np.array([0, 1.0, 0])
    else:
        v = np.asarray([float(x) for x in iop])
        if v.size != 6:
            raise UserError(f"{where}: ImageOrientationPatient needs 6 values")
        row, col = v[:3], v[3:]
    return row, col, np.cross(row, col)


def _component(ds: Any, axes: tuple[np.ndarray, np.ndarray, np.ndarray]
               ) -> tuple[int, float] | None:
    """(component 0 x / 1 y / 2 through-plane, sign) of a phase image, or None if unknown."""
    d = _venc_direction(ds)
    if d is not None and np.linalg.norm(d) > 0:
        proj = np.array([float(np.dot(d, a)) for a in axes])
        c = int(np.argmax(np.abs(proj)))
        return c, float(np.sign(proj[c]))
    m = _SEQ_VENC.search(str(getattr(ds, "SequenceName", "")))
    if m is not None:
        code = m.group(2).lower()
        if code in ("in", "through"):
            return 2, 1.0
        axis = np.asarray(_PATIENT_AXES[code])
        proj = np.array([abs(float(np.dot(axis, a))) for a in axes])
        return int(np.argmax(proj)), 1.0
    return None


def _phase_radians(ds: Any) -> np.ndarray:
    stored = np.asarray(ds.pixel_array, np.float64)
    slope = float(getattr(ds, "RescaleSlope", 1.0) or 1.0)
    intercept = float(getattr(ds, "RescaleIntercept", 0.0) or 0.0)
    if intercept < 0:
        return (stored * slope + intercept) / -intercept * np.pi
    half = 2.0 ** (int(getattr(ds, "BitsStored", 12) or 12) - 1)
    return (stored * slope + intercept - half) / half * np.pi


def _magnitude(ds: Any) -> np.ndarray:
    slope = float(getattr(ds, "RescaleSlope", 1.0) or 1.0)
    intercept = float(getattr(ds, "RescaleIntercept", 0.0) or 0.0)
    return np.asarray(ds.pixel_array, np.float64) * slope + intercept


def _slice_key(ds: Any, normal: np.ndarray) -> float:
    if "SliceLocation" in ds:
        return round(float(ds.SliceLocation), 3)
    ipp = getattr(ds, "ImagePositionPatient", None)
    if ipp is not None:
        return round(float(np.dot(np.asarray([float(x) for x in ipp]), normal)), 3)
    return 0.0


def _stack(images: list[Any], where: str, convert: Any
           ) -> tuple[np.ndarray, list[float], list[list[float]]]:
    """Images of one group → (x, y, slice, frame), the slice positions and the trigger times
    per slice."""
    axes = _geometry(images[0], where)
    by_slice: dict[float, list[Any]] = {}
    for ds in images:
        by_slice.setdefault(_slice_key(ds, axes[2]), []).append(ds)
    locs = sorted(by_slice)
    counts = {len(v) for v in by_slice.values()}
    if len(counts) != 1:
        raise UserError(f"{where}: slices hold different numbers of frames "
                        f"({sorted(counts)}); is a frame missing?")
    nf = counts.pop()
    rows, cols = int(images[0].Rows), int(images[0].Columns)
    out = np.zeros((cols, rows, len(locs), nf), np.float32)
    times = []
    for s, loc in enumerate(locs):
        dss = sorted(by_slice[loc], key=lambda d: (float(getattr(d, "TriggerTime", 0) or 0),
                                                   int(getattr(d, "InstanceNumber", 0) or 0)))
        times.append([float(getattr(d, "TriggerTime", 0) or 0) for d in dss])
        for f, ds in enumerate(dss):
            if (int(ds.Rows), int(ds.Columns)) != (rows, cols):
                raise UserError(f"{where}: images of different sizes in one series")
            out[:, :, s, f] = convert(ds).T  # (rows = y, cols = x) → (x, y)
    return out, locs, times


def load_dicom_folder(folder: str | os.PathLike[str], venc: VencArg = None) -> CardiacCase:
    """A phase-contrast cine from a folder of DICOM files (module docstring)."""
    try:
        import pydicom
        from pydicom.errors import InvalidDicomError
    except ImportError:
        raise MissingPackageError("reading DICOM needs the pydicom package") from None
    d = Path(folder)
    images = []
    for f in sorted(x for x in d.rglob("*") if x.is_file()):
        try:
            ds = pydicom.dcmread(f)
        except (InvalidDicomError, OSError, EOFError, ValueError):
            continue
        if "PixelData" in ds:
            images.append(ds)
    if not images:
        raise UserError(f"{d}: no DICOM images found (nor case.json of a case folder)")
    where = str(d)
    axes = _geometry(images[0], where)
    groups: dict[tuple[str, str, Any], list[Any]] = {}
    series_no: dict[str, int] = {}
    for ds in images:
        uid = str(getattr(ds, "SeriesInstanceUID", ""))
        series_no[uid] = int(getattr(ds, "SeriesNumber", 0) or 0)
        kind = _image_kind(ds)
        comp = _component(ds, axes) if kind == "P" else None
        groups.setdefault((uid, kind, comp), []).append(ds)
    mags = sorted((k for k in groups if k[1] == "M"), key=lambda k: series_no[k[0]])
    phases = sorted((k for k in groups if k[1] == "P"), key=lambda k: series_no[k[0]])
    if not mags:
        raise UserError(f"{where}: no magnitude images (ImageType with M)")
    if not phases:
        raise UserError(f"{where}: no phase images (ImageType with P)")
    known = [k for k in phases if k[2] is not None]
    if known:
        comps = sorted(k[2][0] for k in known)
        if len(known) != len(phases) or comps != [0, 1, 2]:
            raise UserError(f"{where}: need one phase series per direction (x, y, "
                            f"through-plane); found components {comps} and "
                            f"{len(phases) - len(known)} of unknown direction")
        order = {k[2][0]: (k, k[2][1]) for k in known}
    elif len(phases) == 3:
        order = {i: (k, 1.0) for i, k in enumerate(phases)}
    else:
        raise UserError(f"{where}: {len(phases)} phase series of unknown direction; need "
                        "three (x, y, through-plane) or VelocityEncodingDirection tags")
    magnitude, locs, times = _stack(groups[mags[0]], where, _magnitude)
    phase = np.zeros(magnitude.shape + (3,), np.float32)
    venc_tags: list[float | None] = []
    for c in range(3):
        key, sign = order[c]
        arr, locs_c, _ = _stack(groups[key], where, _phase_radians)
        if arr.shape != magnitude.shape or not np.allclose(locs_c, locs):
            raise UserError(f"{where}: the phase series {series_no[key[0]]} does not match "
                            "the magnitude's slices and frames")
        phase[..., c] = sign * arr
        first = groups[key][0]
        cm = _venc_tag_cm(first)
        if cm is None:
            m = _SEQ_VENC.search(str(getattr(first, "SequenceName", "")))
            cm = float(m.group(1)) if m else None
        venc_tags.append(None if cm is None else 10.0 * cm)
    if venc is not None:
        venc_mm = venc_list(venc, where)
        venc_from = "argument"
    elif all(v is not None for v in venc_tags):
        venc_mm = venc_list([float(v) for v in venc_tags if v is not None], where)
        venc_from = "DICOM (cm/s)"
    else:
        raise UserError(f"{where}: no venc in the DICOM tags (VelocityEncodingMaximumValue or "
                        "a sequence name like fl2d1_v20in); pass --venc X,Y,Z in mm/s")
    phase = np.clip(phase, -np.pi, np.pi).astype(np.float32)
    first = images[0]
    ps = getattr(first, "PixelSpacing", None)
    dy, dx = (float(ps[0]), float(ps[1])) if ps is not None else (1.0, 1.0)
    nominal = float(getattr(first, "NominalInterval", 0) or 0)
    rr_ms = nominal if nominal > 0 else None
    row, col, normal = axes
    by_loc = {_slice_key(ds, normal): ds for ds in groups[mags[0]]}
    ipp0 = getattr(by_loc[locs[0]], "ImagePositionPatient", None)
    origin = np.asarray([float(x) for x in ipp0]) if ipp0 is not None else np.zeros(3)
    step = normal * float(getattr(first, "SliceThickness", 1.0) or 1.0)
    if len(locs) > 1:
        ipp1 = getattr(by_loc[locs[1]], "ImagePositionPatient", None)
        step = (np.asarray([float(x) for x in ipp1]) - origin if ipp1 is not None
                else normal * float(locs[1] - locs[0]))
    affine = np.eye(4)
    affine[:3, 0], affine[:3, 1], affine[:3, 2] = row * dx, col * dy, step
    affine[:3, 3] = origin
    info = _info(magnitude, f"dicom:{d.name}", (dx, dy), venc_mm, rr_ms, times[0], True,
                 slice_locations_mm=[float(x) for x in locs], venc_from=venc_from,
                 affine_space="LPS (DICOM patient)",
                 through_plane="+ along the slice normal (row x column cosines); assumed "
                               "towards the LV base")
    return CardiacCase(magnitude=magnitude.astype(np.float32), phase=phase, velocity=None,
                       lv_mask=None, tissues=None, affine=affine, info=info)
