"""Phantom contrasts from tissue physics: signal equations, presets that look like their
clinical namesakes, one anatomy in every contrast, and the tissue-class map."""

from __future__ import annotations

import numpy as np
import pytest

from headtwin_app.core.phantom import make_phantom
from headtwin_app.core.phantom.sequences import PRESETS, Sequence, sequence_for, signal_lut
from headtwin_app.core.phantom.tissues import CODE, TISSUES, parameter_table


def _lut(seq: Sequence) -> dict[str, float]:
    lut = signal_lut(seq)
    return {t.name: float(lut[CODE[t.name]]) for t in TISSUES}


def test_spin_echo_equation() -> None:
    p = parameter_table()
    seq = Sequence("se", tr=500.0, te=10.0)
    raw = p["pd"] * (1 - np.exp(-500.0 / p["t1"])) * np.exp(-10.0 / p["t2"])
    raw[p["flow"] > 0] *= 0.07
    np.testing.assert_allclose(signal_lut(seq), raw / raw.max(), rtol=1e-5)


def test_gradient_echo_peaks_at_the_ernst_angle() -> None:
    p = parameter_table()
    wm = CODE["white_matter"]
    tr = 20.0
    ernst = np.degrees(np.arccos(np.exp(-tr / p["t1"][wm])))
    flips = np.linspace(1, 90, 179)
    s = []
    for f in flips:
        seq = Sequence("gre", tr=tr, te=3.0, flip=float(f))
        e1 = np.exp(-tr / p["t1"])
        a = np.radians(f)
        s.append(p["pd"][wm] * np.sin(a) * (1 - e1[wm]) / (1 - np.cos(a) * e1[wm]))
        assert seq.kind == "gre"
    assert abs(flips[int(np.argmax(s))] - ernst) < 1.0


def test_inversion_recovery_nulls_at_t1_ln2() -> None:
    t1_csf = parameter_table()["t1"][CODE["csf"]]
    lut = _lut(Sequence("ir", tr=60000.0, te=1.0, ti=float(t1_csf * np.log(2))))
    assert lut["csf"] < 1e-3 and lut["white_matter"] > 0.3


@pytest.mark.parametrize("bad", [dict(kind="fse", tr=500.0, te=10.0),
                                 dict(kind="se", tr=100.0, te=200.0),
                                 dict(kind="ir", tr=1000.0, te=10.0, ti=2000.0),
                                 dict(kind="gre", tr=10.0, te=3.0, flip=120.0),
                                 dict(kind="se", tr=float("nan"), te=3.0)])
def test_sequence_rejects_impossible_timings(bad: dict) -> None:
    with pytest.raises(ValueError):
        Sequence(**bad)


def test_presets_look_like_their_names() -> None:
    t1, t2, pd, fl = (_lut(PRESETS[k]) for k in ("t1", "t2", "pd", "flair"))
    assert t1["fat"] == 1.0 and t1["white_matter"] > t1["grey_matter"] > t1["csf"]
    assert t2["csf"] > t2["grey_matter"] > t2["white_matter"] > t2["muscle"]
    assert pd["csf"] > pd["grey_matter"] > pd["white_matter"] > pd["muscle"]
    assert fl["csf"] < 0.1 * fl["white_matter"] and fl["grey_matter"] > fl["white_matter"]
    for lut in (t1, t2, pd, fl):
        assert lut["air"] == 0.0 and lut["cortical_bone"] < 0.01 and lut["flow_void"] < 0.1


def test_sequence_for_overrides_and_checks() -> None:
    seq = sequence_for("t1", te=15.0, kind="gre")
    assert seq.kind == "gre" and seq.te == 15.0 and seq.tr == 500.0 and seq.flip == 30.0
    with pytest.raises(ValueError, match="contrast"):
        sequence_for("dwi")


@pytest.fixture(scope="module")
def heads() -> dict[str, object]:
    return {c: make_phantom(2, spacing=3.0, sequence=c) for c in ("t1", "t2", "flair")}


def test_one_anatomy_in_every_contrast(heads: dict) -> None:
    t1, t2 = heads["t1"], heads["t2"]
    np.testing.assert_array_equal(t1.labels.data, t2.labels.data)
    np.testing.assert_array_equal(t1.tissue_classes.data, t2.tissue_classes.data)
    assert not np.allclose(t1.image.data, t2.image.data)
    assert t1.image.meta["sequence"]["tr"] == 500.0


def test_phantom_images_follow_the_tissue_map(heads: dict) -> None:
    def med(ph, name: str) -> float:  # type: ignore[no-untyped-def]
        return float(np.median(ph.image.data[ph.tissue_classes.data == CODE[name]]))

    t1, t2, fl = heads["t1"], heads["t2"], heads["flair"]
    assert med(t1, "fat") > med(t1, "white_matter") > med(t1, "csf")
    assert med(t2, "csf") > med(t2, "white_matter") and med(t2, "vitreous") > med(t2, "fat")
    assert med(fl, "csf") < 0.5 * med(fl, "white_matter")
    assert med(t1, "air") < 0.1 * med(t1, "fat")
    names = set(np.unique(t1.tissue_classes.data).tolist())
    assert {CODE["muscle"], CODE["cortical_bone"], CODE["vitreous"], CODE["lens"]} <= names
