"""DICOM in → DICOM out for the all-in-one model (all-in-one paper §2.3–2.4): read an MR image
with its source datasets and geometry, the sampling context from its tags, the reversible
standardisation (phase axis first, zero-padding cropped, intensities normalised) and a derived
series that keeps every source tag but the ones that must change.

Conventions:
- `DicomImage.pixels` is (n_slices, rows, cols) in stored pixel layout, values after
  RescaleSlope/Intercept. Slices of a folder are sorted by ImagePositionPatient along the slice
  normal (row direction × column direction, as ITK sorts); frames of a multi-frame file too when
  their positions are known, else kept in file order.
- Geometry uses ITK's axis order so it compares directly with SimpleITK: axis x = column index
  (along ImageOrientationPatient[:3]), y = row index (along [3:]), z = slice; LPS millimetres.
- Phase encoding: InPlanePhaseEncodingDirection "COL" means the phase-encode gradient runs
  along the column direction, i.e. vertically in the displayed image: the row index (axis 0 of a
  (rows, cols) slice, axis 1 of `pixels`) counts phase positions. "ROW" means horizontal, the
  column index. `phase_axis` keeps DICOM's term in lower case ("col" / "row").
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from headtwin_app.core.enhance.context import Context
from headtwin_app.core.io.dicom import check_file, looks_like_dicom

DICOM_SUFFIXES = (".dcm", ".dicom", ".ima")
ENHANCED_MR = "1.2.840.10008.5.1.4.1.1.4.1"
ASSUMED_PARTIAL_FOURIER = 0.75  # PartialFourier YES gives no fraction; 6/8 is the usual one
SERIES_NUMBER_OFFSET = 1000  # derived series number = source + this (vendors' habit)
# Tags whose value describes the source pixels and would be wrong for the derived ones.
_STALE_PIXEL_TAGS = ("SmallestImagePixelValue", "LargestImagePixelValue",
                     "SmallestPixelValueInSeries", "LargestPixelValueInSeries",
                     "IconImageSequence", "ExtendedOffsetTable", "ExtendedOffsetTableLengths",
                     "FloatPixelData", "DoubleFloatPixelData", "DataSetTrailingPadding")


@dataclass
class DicomImage:
    """An MR image as the all-in-one model needs it: pixels, the datasets to derive the output
    from, geometry, phase-encode axis and 2D/3D.

    Attributes:
        pixels: float32 (n_slices, rows, cols), stored layout, rescaled values.
        datasets: one dataset per slice (single-frame files, sorted like `pixels`) or the one
            multi-frame dataset; pixel data loaded.
        paths: the file of each dataset.
        frames: for a multi-frame file, the source frame index of each slice of `pixels`.
        origin: LPS position (mm) of the first pixel of the first slice.
        direction: 3×3, columns = unit directions of the x (column index), y (row index) and z
            (slice) axes, as SimpleITK's GetDirection read row-major.
        spacing: (column spacing, row spacing, slice spacing) in mm.
        slope, intercept: the rescale of each slice (writing stores values back through them).
        phase_axis: "col" (phase along the column direction: rows index phase) or "row".
        phase_from_tag: False when InPlanePhaseEncodingDirection was missing ("col" assumed).
        geometry_from_tags: False when position/orientation were missing (identity used).
        is_3d: MRAcquisitionType == "3D".
    """

    pixels: np.ndarray
    datasets: list[Any]
    paths: list[Path]
    frames: list[int] | None
    origin: np.ndarray
    direction: np.ndarray
    spacing: np.ndarray
    slope: np.ndarray
    intercept: np.ndarray
    phase_axis: str
    phase_from_tag: bool
    geometry_from_tags: bool
    is_3d: bool

    @property
    def multiframe(self) -> bool:
        return self.frames is not None

    @property
    def phase_slice_axis(self) -> int:
        """The phase-encode axis of one (rows, cols) slice: 0 for "col", 1 for "row"."""
        return 0 if self.phase_axis == "col" else 1

    @property
    def first(self) -> Any:
        return self.datasets[0]


# --------------------------------------------------------------------------------- reading

def _fg_item(ds: Any, frame: int | None, seq: str) -> Any | None:
    """The first item of functional-group macro `seq` for `frame` (per-frame before shared)."""
    groups = []
    if frame is not None and "PerFrameFunctionalGroupsSequence" in ds and \
            frame < len(ds.PerFrameFunctionalGroupsSequence):
        groups.append(ds.PerFrameFunctionalGroupsSequence[frame])
    if "SharedFunctionalGroupsSequence" in ds and len(ds.SharedFunctionalGroupsSequence):
        groups.append(ds.SharedFunctionalGroupsSequence[0])
    for g in groups:
        if seq in g and len(g[seq].value):
            return g[seq][0]
    return None


def _tag(ds: Any, frame: int | None, keyword: str, seqs: Sequence[str] = ()) -> Any:
    """A tag from the functional groups of `frame` (in one of `seqs`) or the top level."""
    for s in seqs:
        item = _fg_item(ds, frame, s)
        if item is not None and keyword in item and item[keyword].value not in (None, ""):
            return item[keyword].value
    value = ds.get(keyword)
    return None if value in (None, "") else value


def _frame_geometry(ds: Any, frame: int | None) -> tuple[Any, Any, Any, Any]:
    ipp = _tag(ds, frame, "ImagePositionPatient", ["PlanePositionSequence"])
    iop = _tag(ds, frame, "ImageOrientationPatient", ["PlaneOrientationSequence"])
    ps = _tag(ds, frame, "PixelSpacing", ["PixelMeasuresSequence"])
    thick = _tag(ds, frame, "SliceThickness", ["PixelMeasuresSequence"])
    return ipp, iop, ps, thick


def _rescale(ds: Any, frame: int | None) -> tuple[float, float]:
    seqs = ["PixelValueTransformationSequence"]
    slope = _tag(ds, frame, "RescaleSlope", seqs)
    intercept = _tag(ds, frame, "RescaleIntercept", seqs)
    return (float(slope) if slope is not None else 1.0,
            float(intercept) if intercept is not None else 0.0)


def _read_dataset(p: Path) -> Any:
    """A checked MR image dataset with its pixel data, or ValueError naming the problem."""
    import pydicom

    if not p.is_file():
        raise ValueError(f"{p}: no such file or folder")
    if not looks_like_dicom(p):
        try:
            head = pydicom.dcmread(str(p), force=True, stop_before_pixels=True)
            known = "SOPClassUID" in head  # a legacy file without a preamble
        except Exception:
            known = False
        if not known:
            raise ValueError(f"{p}: not a DICOM file")
    check_file(p)  # VolumeError (a ValueError): no pixel data, truncated, unreadable
    try:
        ds = pydicom.dcmread(str(p), force=True)
    except Exception as exc:
        raise ValueError(f"{p}: not a readable DICOM file ({str(exc)[:120]})") from None
    modality = str(ds.get("Modality", "") or "")
    if modality != "MR":
        raise ValueError(f"{p}: not an MR image (Modality {modality or 'missing'}); the "
                         "all-in-one model reads MR only")
    if int(ds.get("SamplesPerPixel", 1) or 1) != 1:
        raise ValueError(f"{p}: a colour image ({ds.get('PhotometricInterpretation')}); "
                         "MR magnitude images are greyscale")
    return ds


def _pixels(ds: Any, p: Path) -> np.ndarray:
    try:
        arr = np.asarray(ds.pixel_array)
    except Exception as exc:  # missing codec, damaged stream
        raise ValueError(f"{p}: cannot decode the pixel data ({str(exc)[:160]})") from None
    if arr.dtype.kind not in "iu":
        raise ValueError(f"{p}: {arr.dtype} pixel data; only integer pixel data is supported")
    return arr


def _series_files(folder: Path) -> list[Path]:
    """The DICOM files of the one series in `folder`; ValueError for none or several."""
    import pydicom

    files = [f for f in sorted(folder.iterdir()) if f.is_file() and not f.name.startswith(".")
             and (f.suffix.lower() in DICOM_SUFFIXES or looks_like_dicom(f))]
    if not files:
        raise ValueError(f"{folder}: the folder holds no DICOM files")
    series: dict[str, list[Path]] = {}
    names: dict[str, str] = {}
    for f in files:
        try:
            head = pydicom.dcmread(str(f), force=True, stop_before_pixels=True)
        except Exception as exc:
            raise ValueError(f"{f}: not a readable DICOM file ({str(exc)[:120]})") from None
        uid = str(head.get("SeriesInstanceUID", "") or "")
        series.setdefault(uid, []).append(f)
        names.setdefault(uid, f"series {head.get('SeriesNumber', '?')} "
                              f"'{head.get('SeriesDescription', '') or ''}' ({uid or 'no UID'})")
    if len(series) > 1:
        listed = "; ".join(f"{names[u]}: {len(fs)} file(s)" for u, fs in series.items())
        raise ValueError(f"{folder}: the folder holds {len(series)} series ({listed}); put one "
                         "series in a folder or give one file")
    return files


def read_dicom(path: str | Path) -> DicomImage:
    """Read an MR DICOM file, multi-frame file or one-series folder with what the derived
    series and the context need (source datasets, geometry, phase axis, 2D/3D)."""
    p = Path(path)
    if p.is_dir():
        files = _series_files(p)
    elif p.exists():
        files = [p]
    else:
        raise ValueError(f"{p}: no such file or folder")
    datasets = [_read_dataset(f) for f in files]
    multi = [ds for ds in datasets if int(ds.get("NumberOfFrames", 1) or 1) > 1]
    if multi and len(datasets) > 1:
        raise ValueError(f"{p}: a series mixing multi-frame and other files is not supported; "
                         "give the multi-frame file itself")
    first = datasets[0]
    sizes = {(int(ds.Rows), int(ds.Columns)) for ds in datasets}
    if len(sizes) > 1:
        raise ValueError(f"{p}: the slices differ in size ({sorted(sizes)})")

    frames: list[int] | None
    if multi:
        arr = _pixels(first, files[0])
        stack = arr.reshape(-1, *arr.shape[-2:])
        n = stack.shape[0]
        geo = [_frame_geometry(first, i) for i in range(n)]
        scales = [_rescale(first, i) for i in range(n)]
        frames = list(range(n))
    else:
        stack = np.stack([_pixels(ds, f) for ds, f in zip(datasets, files, strict=True)])
        geo = [_frame_geometry(ds, None) for ds in datasets]
        scales = [_rescale(ds, None) for ds in datasets]
        frames = None
    n = stack.shape[0]

    has_geo = all(g[0] is not None and g[1] is not None for g in geo)
    if has_geo:
        iops = np.array([[float(v) for v in g[1]] for g in geo])
        if not np.allclose(iops, iops[0], atol=1e-4):
            raise ValueError(f"{p}: the slices have different orientations; not one volume")
        row_dir, col_dir = iops[0, :3], iops[0, 3:]
        normal = np.cross(row_dir, col_dir)
        positions = np.array([[float(v) for v in g[0]] for g in geo])
        order = np.argsort(positions @ normal, kind="stable")
    else:
        row_dir, col_dir, normal = np.eye(3)
        positions = np.zeros((n, 3))
        order = np.arange(n)
    ps = geo[0][2]
    row_sp, col_sp = (float(ps[0]), float(ps[1])) if ps is not None else (1.0, 1.0)
    if n > 1 and has_geo:
        steps = np.diff(positions[order] @ normal)
        slice_sp = float(np.median(steps))
        if slice_sp <= 0:
            raise ValueError(f"{p}: two slices share a position; not one volume")
    else:
        between = _tag(first, 0 if multi else None, "SpacingBetweenSlices",
                       ["PixelMeasuresSequence"])
        slice_sp = float(between or geo[0][3] or 1.0) if has_geo or between else 1.0

    stack = stack[order]
    slope = np.array([scales[i][0] for i in order])
    intercept = np.array([scales[i][1] for i in order])
    pixels = (stack.astype(np.float64) * slope[:, None, None]
              + intercept[:, None, None]).astype(np.float32)
    if frames is not None:
        frames = [int(i) for i in order]
    else:
        datasets = [datasets[i] for i in order]
        files = [files[i] for i in order]

    fg = 0 if multi else None
    ped = _tag(first, fg, "InPlanePhaseEncodingDirection", ["MRFOVGeometrySequence"])
    phase = str(ped or "COL").strip().lower()
    if phase not in ("col", "row"):
        raise ValueError(f"{p}: InPlanePhaseEncodingDirection is {ped!r}; expected ROW or COL")
    acq = _tag(first, fg, "MRAcquisitionType", [])
    return DicomImage(
        pixels=pixels, datasets=datasets, paths=files, frames=frames,
        origin=positions[order[0]] if has_geo else np.zeros(3),
        direction=np.column_stack([row_dir, col_dir, normal]),
        spacing=np.array([col_sp, row_sp, slice_sp]),
        slope=slope, intercept=intercept, phase_axis=phase, phase_from_tag=ped is not None,
        geometry_from_tags=has_geo, is_3d=str(acq or "").strip().upper() == "3D")


# --------------------------------------------------------------------------------- context

def _clip_fraction(value: float) -> tuple[float, bool]:
    """(value clipped to (0, 1], whether it was > 1): more samples than pixels means the
    reconstruction did not zero-pad, so nothing is missing."""
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"a sampling fraction of {value} from the tags makes no sense")
    return min(value, 1.0), value > 1.0


def context_from_tags(source: DicomImage | Any, nrf: float) -> tuple[Context, dict[str, str]]:
    """The sampling context of an MR image from its DICOM tags (paper §2.4), with where each
    field came from ("defaulted" when no tag gives it), so a user sees what was guessed.

    Mapping (fractions are of the k-space extent of the image's own pixel grid):
    - Acquired samples: AcquisitionMatrix (frequency rows, frequency columns, phase rows, phase
      columns; one of each pair is 0), for enhanced MR MRAcquisitionFrequencyEncodingSteps and
      MRAcquisitionPhaseEncodingStepsInPlane.
    - Reconstructed pixels: frequency = Columns for phase "col" (Rows for "row"); the phase
      pixels that span the phase FOV = freq pixels × freq spacing × PercentPhaseFieldOfView /
      phase spacing (the displayed phase FOV is that fraction of the frequency FOV; a square
      zero-padded image and an already rectangular one both come out right).
    - freq_kmax = acquired freq samples / freq pixels; phase_kmax = acquired phase lines /
      phase pixels; both clipped to (0, 1] (> 1: no zero-padding interpolation).
    - PercentSampling is the phase resolution relative to the frequency resolution (Siemens
      "phase resolution", Philips "scan percentage": Siemens 134 = 256 × 0.75 × 0.698). When
      the acquisition matrix gives the phase lines it already includes it, so it is not applied
      twice; without one, phase_kmax = freq_kmax × PercentSampling / 100.
      NumberOfPhaseEncodingSteps is only reported: vendors count oversampled lines in it.
    - phase_pf / slice_pf: PartialFourier YES with PartialFourierDirection PHASE / SLICE_SELECT
      / COMBINATION → 0.75 (the tag gives no fraction; 6/8 assumed and said so); NO → 1.
    - is_3d: MRAcquisitionType "3D". slice_kmax, uniform_r, random_r, elliptical have no
      standard tag (a scanner's parallel imaging is already unfolded): defaults, reported.
    """
    ds = source.first if isinstance(source, DicomImage) else source
    fg = 0 if int(ds.get("NumberOfFrames", 1) or 1) > 1 else None
    fov_seq = ["MRFOVGeometrySequence"]
    src: dict[str, str] = {}
    values: dict[str, float] = {"nrf": float(nrf)}
    src["nrf"] = "requested by the user"

    if isinstance(source, DicomImage):
        phase, phase_known = source.phase_axis, source.phase_from_tag
    else:
        ped = _tag(ds, fg, "InPlanePhaseEncodingDirection", fov_seq)
        phase, phase_known = str(ped or "COL").strip().lower(), ped is not None
    src["phase_axis"] = (f"InPlanePhaseEncodingDirection {phase.upper()}" if phase_known
                         else "defaulted (COL: rows index phase)")
    rows, cols = int(ds.Rows), int(ds.Columns)
    _, _, ps, _ = _frame_geometry(ds, fg)
    row_sp, col_sp = (float(ps[0]), float(ps[1])) if ps is not None else (1.0, 1.0)
    if phase == "col":
        freq_px, freq_sp, phase_sp = cols, col_sp, row_sp
    else:
        freq_px, freq_sp, phase_sp = rows, row_sp, col_sp
    pfov_tag = _tag(ds, fg, "PercentPhaseFieldOfView", fov_seq)
    pfov = float(pfov_tag) / 100.0 if pfov_tag is not None else 1.0
    phase_px = freq_px * freq_sp * pfov / phase_sp
    pfov_note = (f"PercentPhaseFieldOfView {float(pfov_tag):g}" if pfov_tag is not None
                 else "PercentPhaseFieldOfView defaulted 100")

    acq_freq = acq_phase = None
    am = ds.get("AcquisitionMatrix")
    if am is not None and len(am) == 4 and any(int(v) for v in am):
        acq_freq, acq_phase = max(int(am[0]), int(am[1])), max(int(am[2]), int(am[3]))
        am_name = f"AcquisitionMatrix {list(int(v) for v in am)}"
    else:
        f_steps = _tag(ds, fg, "MRAcquisitionFrequencyEncodingSteps", fov_seq)
        p_steps = _tag(ds, fg, "MRAcquisitionPhaseEncodingStepsInPlane", fov_seq)
        acq_freq = int(f_steps) if f_steps else None
        acq_phase = int(p_steps) if p_steps else None
        am_name = "MRAcquisitionFrequency/PhaseEncodingSteps"

    if acq_freq:
        values["freq_kmax"], clipped = _clip_fraction(acq_freq / freq_px)
        src["freq_kmax"] = f"{am_name}: {acq_freq} samples / {freq_px} pixels" + \
            (" (> 1 clipped: no zero-padding)" if clipped else "")
    else:
        values["freq_kmax"] = 1.0
        src["freq_kmax"] = "defaulted (no acquisition matrix)"

    pct_tag = _tag(ds, fg, "PercentSampling", fov_seq)
    if acq_phase:
        values["phase_kmax"], clipped = _clip_fraction(acq_phase / phase_px)
        src["phase_kmax"] = (f"{am_name}: {acq_phase} lines / {phase_px:.1f} pixels "
                             f"({pfov_note})" + (" (> 1 clipped)" if clipped else ""))
        if pct_tag is not None:
            src["PercentSampling"] = (f"{float(pct_tag):g}: already counted in the acquired "
                                      "phase lines, not applied again")
    elif pct_tag is not None:
        values["phase_kmax"], _ = _clip_fraction(values["freq_kmax"] * float(pct_tag) / 100.0)
        src["phase_kmax"] = f"PercentSampling {float(pct_tag):g} × freq_kmax"
    else:
        values["phase_kmax"] = 1.0
        src["phase_kmax"] = "defaulted (no acquisition matrix or PercentSampling)"
    steps = ds.get("NumberOfPhaseEncodingSteps")
    if steps is not None:
        src["NumberOfPhaseEncodingSteps"] = f"{steps}: reported only (may count oversampling)"

    pf = str(_tag(ds, fg, "PartialFourier", ["MRModifierSequence"]) or "").strip().upper()
    pf_dir = str(_tag(ds, fg, "PartialFourierDirection", ["MRModifierSequence"]) or "")
    pf_dir = pf_dir.strip().upper()
    values["phase_pf"] = values["slice_pf"] = 1.0
    if pf == "YES":
        note = f"PartialFourier YES {pf_dir or '(no direction)'}: 6/8 assumed (no fraction tag)"
        if pf_dir in ("PHASE", "COMBINATION", ""):
            values["phase_pf"] = ASSUMED_PARTIAL_FOURIER
        if pf_dir in ("SLICE_SELECT", "COMBINATION"):
            values["slice_pf"] = ASSUMED_PARTIAL_FOURIER
        src["phase_pf"] = note if values["phase_pf"] < 1 else f"PartialFourier {pf_dir}: 1"
        src["slice_pf"] = note if values["slice_pf"] < 1 else f"PartialFourier {pf_dir}: 1"
    elif pf == "NO":
        src["phase_pf"] = src["slice_pf"] = "PartialFourier NO"
    else:
        src["phase_pf"] = src["slice_pf"] = "defaulted (no PartialFourier tag)"

    acq = _tag(ds, fg, "MRAcquisitionType", [])
    values["is_3d"] = 1.0 if str(acq or "").strip().upper() == "3D" else 0.0
    src["is_3d"] = f"MRAcquisitionType {acq}" if acq else "defaulted 2D (no MRAcquisitionType)"
    for name in ("slice_kmax", "uniform_r", "random_r", "elliptical"):
        src[name] = "defaulted (no standard tag)"
    return Context(**values), src


# ------------------------------------------------------------------------- standardisation

@dataclass
class Standardised:
    """A standardised image (paper §2.3 minus interpolation) and what undoes it.

    pixels: float32 (n_slices, phase, frequency), intensities / `scale`.
    transposed: the in-plane axes were swapped (phase "row").
    crop: (start, stop) kept along the phase axis of the transposed image; `phase_size` its
    length before cropping; `fill` the value of each slice's cropped lines (a stored 0).
    """

    pixels: np.ndarray
    transposed: bool
    crop: tuple[int, int]
    phase_size: int
    scale: float
    fill: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)


def _padding_budget(image: DicomImage, n_phase: int) -> int:
    """How many phase lines can be zero padding: the pixels beyond the displayed phase FOV."""
    ds = image.first
    fg = 0 if image.multiframe else None
    pfov = _tag(ds, fg, "PercentPhaseFieldOfView", ["MRFOVGeometrySequence"])
    if pfov is None or float(pfov) >= 100.0:
        return 0
    col_sp, row_sp = float(image.spacing[0]), float(image.spacing[1])
    if image.phase_axis == "col":
        freq_px, freq_sp, phase_sp = image.pixels.shape[2], col_sp, row_sp
    else:
        freq_px, freq_sp, phase_sp = image.pixels.shape[1], row_sp, col_sp
    signal = freq_px * freq_sp * float(pfov) / 100.0 / phase_sp
    return max(0, int(math.floor(n_phase - signal + 0.5)))


def standardise(image: DicomImage, percentile: float = 99.0) -> Standardised:
    """Put the phase axis first, crop zero-padded phase margins and divide by the intensity
    percentile, so every vendor image reaches the network alike; `unstandardise` undoes it."""
    arr = image.pixels
    transposed = image.phase_axis == "row"
    if transposed:
        arr = arr.transpose(0, 2, 1)
    n_phase = arr.shape[1]
    budget = _padding_budget(image, n_phase)
    fill = image.intercept.astype(np.float32)  # a stored 0 after the rescale
    lines = np.flatnonzero(np.any(arr != fill[:, None, None], axis=(0, 2)))
    start = stop_pad = 0
    if budget and lines.size:
        start = min(int(lines[0]), budget)
        stop_pad = min(n_phase - 1 - int(lines[-1]), budget - start)
    crop = (start, n_phase - stop_pad)
    kept = np.ascontiguousarray(arr[:, crop[0]:crop[1]], dtype=np.float32)
    scale = float(np.percentile(kept, percentile)) if kept.size else 1.0
    if not math.isfinite(scale) or scale <= 0:
        scale = float(np.abs(kept).max()) or 1.0
    return Standardised(pixels=(kept / np.float32(scale)).astype(np.float32),
                        transposed=transposed, crop=crop, phase_size=n_phase, scale=scale,
                        fill=fill,
                        info={"padding_budget": budget, "percentile": percentile})


def unstandardise(pixels: np.ndarray, std: Standardised) -> np.ndarray:
    """Back to stored layout and intensities: rescale, pad the cropped lines, transpose back."""
    out = np.asarray(pixels, dtype=np.float32)
    if out.shape != std.pixels.shape:
        raise ValueError(f"the processed image is {out.shape}, the standardised one "
                         f"{std.pixels.shape}; they must match")
    out = out * np.float32(std.scale)
    start, stop = std.crop
    full = np.repeat(std.fill[:, None, None], std.phase_size, axis=1)
    full = np.repeat(full, out.shape[2], axis=2).astype(np.float32)
    full[:, start:stop] = out
    return np.ascontiguousarray(full.transpose(0, 2, 1) if std.transposed else full)


# --------------------------------------------------------------------------------- writing

def _stored(values: np.ndarray, slope: np.ndarray, intercept: np.ndarray, bits: int,
            signed: bool) -> np.ndarray:
    """Values → stored integers through the inverse rescale, rounded and clipped to the type."""
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2 ** bits - 1)
    raw = (values.astype(np.float64) - intercept[:, None, None]) / slope[:, None, None]
    dtype = np.dtype(f"<{'i' if signed else 'u'}{bits // 8}")
    return np.clip(np.round(raw), lo, hi).astype(dtype)


def _derive(src: Any, stored: np.ndarray, series_uid: str, series_number: int,
            description: str, derivation: str) -> Any:
    """A copy of `src` carrying `stored` as uncompressed pixel data and the derived-series tags."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as DicomSequence
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    ds = copy.deepcopy(src)
    for tag in [t for t in ds.keys() if 0x6000 <= t.group <= 0x60FF and t.group % 2 == 0]:
        del ds[tag]  # overlays annotate the source pixels (some are stored in their high bits)
    for kw in _STALE_PIXEL_TAGS:
        if kw in ds:
            delattr(ds, kw)
    uid = generate_uid()
    ds.SOPInstanceUID = uid
    ds.file_meta.MediaStorageSOPInstanceUID = uid
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = series_number
    old_type = list(ds.ImageType) if "ImageType" in ds else []
    if isinstance(ds.get("ImageType"), str):
        old_type = [ds.ImageType]
    ds.ImageType = ["DERIVED", "SECONDARY", *old_type[2:]]
    ds.SeriesDescription = f"{str(ds.get('SeriesDescription', '') or '')} {description}" \
        .strip()[-64:]
    ds.DerivationDescription = derivation[:1024]
    ref = Dataset()
    ref.ReferencedSOPClassUID = src.SOPClassUID
    ref.ReferencedSOPInstanceUID = src.SOPInstanceUID
    ds.SourceImageSequence = DicomSequence([ref])
    bits = stored.dtype.itemsize * 8
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = bits, bits, bits - 1
    ds.PixelRepresentation = 1 if stored.dtype.kind == "i" else 0
    ds.PixelData = np.ascontiguousarray(stored).tobytes()
    ds["PixelData"].VR = "OW" if bits > 8 else "OB"
    return ds


def write_derived_series(image: DicomImage, pixels: np.ndarray, out_dir: str | Path,
                         description: str, model_name: str, nrf: float,
                         series_number: int | None = None) -> list[Path]:
    """Write `pixels` (stored layout, rescaled values) as a derived DICOM series that keeps the
    source's tags and geometry, so PACS and viewers file it beside the original.

    One file per slice for single-frame sources, one multi-frame file for a multi-frame source
    (its functional groups stay valid). Each file is a copy of its source with new Series/SOP
    Instance UIDs, ImageType DERIVED\\SECONDARY (+ the source's further values), a
    DerivationDescription naming model and NRF, SeriesDescription + `description`, SeriesNumber
    source + 1000, geometry and rescale kept; pixels stored through the inverse rescale in the
    source's integer type, BitsStored widened to BitsAllocated (a 12-bit range would clip
    sharpened edges); Explicit VR Little Endian; overlays and icons dropped. The folder `out_dir`
    must be new or empty and not hold the source; it appears complete or not at all.
    """
    import pydicom
    from pydicom.uid import generate_uid

    from headtwin_app.core.atomic import atomic_folder

    values = np.asarray(pixels)
    if values.shape != image.pixels.shape:
        raise ValueError(f"the pixels are {values.shape}; the source image is "
                         f"{image.pixels.shape}")
    if not np.all(np.isfinite(values)):
        raise ValueError("the pixels hold NaN or infinite values; nothing written")
    out = Path(out_dir)
    sources = {f.resolve().parent for f in image.paths}
    if out.resolve() in sources:
        raise ValueError(f"{out}: this folder holds the source series; write the derived "
                         "series to a new folder")
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out}: a file is in the way (a folder is needed here)")
    if out.is_dir() and any(out.iterdir()):
        raise ValueError(f"{out}: the folder is not empty; existing files are never "
                         "overwritten (choose a new or empty folder)")
    first = image.first
    bits = int(first.get("BitsAllocated", 16) or 16)
    if bits not in (8, 16, 32):
        raise ValueError(f"BitsAllocated {bits} is not supported for writing")
    signed = int(first.get("PixelRepresentation", 0) or 0) == 1
    stored = _stored(values, image.slope, image.intercept, bits, signed)
    series_uid = generate_uid()
    number = series_number if series_number is not None else \
        int(first.get("SeriesNumber", 0) or 0) + SERIES_NUMBER_OFFSET
    derivation = (f"{description}: all-in-one enhancement by model {model_name}, noise "
                  f"reduction factor {float(nrf):g}")
    outputs: list[tuple[str, Any]] = []
    if image.frames is not None:
        frames = np.empty_like(stored)
        frames[np.asarray(image.frames)] = stored  # back to the file's frame order
        outputs.append(("IM0001.dcm", _derive(first, frames, series_uid, number, description,
                                              derivation)))
    else:
        for k, src in enumerate(image.datasets):
            outputs.append((f"IM{k + 1:04d}.dcm", _derive(src, stored[k], series_uid, number,
                                                        description, derivation)))
    with atomic_folder(out, lambda d: not any(d.iterdir())) as tmp:
        for name, ds in outputs:  # dcmwrite re-encodes big-endian / implicit sources
            pydicom.dcmwrite(str(tmp / name), ds, enforce_file_format=True)
    return [out / name for name, _ in outputs]
