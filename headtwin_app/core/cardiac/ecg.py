"""R-R intervals of a real ECG: the 12-lead recording that ships in the pydicom wheel
(`waveform_ecg.dcm`, 10 s at 1 kHz). R peaks are found on lead II; the phantom can take one of
its beats' R-R interval instead of a drawn heart rate (`headtwin cardiac-phantom --ecg`)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from headtwin_app.core.errors import MissingPackageError

ECG_FILE = "waveform_ecg.dcm"


@lru_cache(maxsize=1)
def rr_intervals_ms() -> tuple[float, ...]:
    """R-R intervals (ms) of the recording's lead II, in order."""
    try:
        import pydicom
        from pydicom.data import get_testdata_file
    except ImportError as exc:  # pragma: no cover - pydicom is a dependency
        raise MissingPackageError("pydicom is needed for the ECG timing") from exc
    path = get_testdata_file(ECG_FILE, download=False)
    if path is None:
        raise MissingPackageError(f"pydicom's {ECG_FILE} is not installed")
    ds = pydicom.dcmread(path)
    seq = ds.WaveformSequence[0]
    leads = [c.ChannelSourceSequence[0].CodeMeaning for c in seq.ChannelDefinitionSequence]
    lead = next((i for i, name in enumerate(leads) if name.strip() == "Lead II"), 1)
    signal = ds.waveform_array(0)[:, lead].astype(np.float64)
    signal -= np.median(signal)
    from scipy.signal import find_peaks

    fs = float(seq.SamplingFrequency)
    peaks, _ = find_peaks(signal, height=0.5 * np.percentile(signal, 99.5),
                          distance=int(0.3 * fs))
    return tuple(float(v) for v in np.diff(peaks) * 1000.0 / fs)


def rr_for_seed(seed: int) -> float:
    """One beat's R-R interval (ms), chosen by the seed."""
    rr = rr_intervals_ms()
    return rr[seed % len(rr)]
