"""Velocity assessment: phase decoding, the cylindrical frame about the per-frame LV centroid,
peaks, the venc / wrap flags, and the issue's targets against the phantom's analytic truth."""

import numpy as np
import pytest

from headtwin_app.core.cardiac.phantom import make_case, wrap
from headtwin_app.core.cardiac.velocity import (
    DIRECTIONS,
    assess,
    assess_case,
    likely_wraps,
    upsample_periodic,
    velocity_from_phase,
)

SEED = 2


@pytest.fixture(scope="module")
def clean_case():
    return make_case(SEED, snr=0)


@pytest.fixture(scope="module")
def noisy_case():
    # One slice (a third of the voxels: the harder case for noise, and 3× faster to make);
    # benchmarks/bench_cardiac_velocity.py checks the default 3-slice cases of seeds 1-5.
    return make_case(SEED, slices=1, snr=20)


def test_velocity_from_phase_per_component():
    phase = np.array([[np.pi / 2, -np.pi / 4, np.pi]], np.float32)
    v = velocity_from_phase(phase, [200, 200, 300])
    np.testing.assert_allclose(v, [[100.0, -50.0, 300.0]], rtol=1e-6)
    np.testing.assert_allclose(velocity_from_phase(phase, 100), [[50.0, -25.0, 100.0]])
    with pytest.raises(ValueError, match="3 components"):
        velocity_from_phase(np.zeros((4, 2)), 100)
    with pytest.raises(ValueError, match="venc"):
        velocity_from_phase(phase, [100, 0, 100])


def test_upsample_periodic_keeps_samples_and_interpolates_a_sinusoid():
    n = 20
    t = np.arange(n) / n
    curve = 3 * np.sin(2 * np.pi * 2 * t) + np.cos(2 * np.pi * 5 * t)
    fine = upsample_periodic(curve, 4)
    tf = np.arange(4 * n) / (4 * n)
    np.testing.assert_allclose(fine[::4], curve, atol=1e-12)
    np.testing.assert_allclose(fine, 3 * np.sin(2 * np.pi * 2 * tf) + np.cos(2 * np.pi * 5 * tf),
                               atol=1e-12)


def moving_ring(frames=8, omega=0.5, contraction=0.0, vz=0.0):
    """An annulus (myocardium) around a disc (blood) whose centre moves each frame; the
    velocity is a rotation (ω rad/s · r) plus a radial inflow, about the moving centre."""
    nx, ny = 80, 70
    sp = (1.0, 1.5)
    x, y = np.meshgrid(np.arange(nx) * sp[0], np.arange(ny) * sp[1], indexing="ij")
    vel = np.zeros((nx, ny, 1, frames, 3), np.float32)
    mask = np.zeros((nx, ny, 1, frames), np.uint8)
    for f in range(frames):
        cx, cy = 35.0 + 1.3 * f, 50.0 - 0.9 * f
        dx, dy = x - cx, y - cy
        r = np.hypot(dx, dy)
        mask[..., 0, f] = np.where(r < 12, 2, np.where(r < 20, 1, 0))
        vel[..., 0, f, 0] = -omega * dy - contraction * dx / np.maximum(r, 1e-9)
        vel[..., 0, f, 1] = omega * dx - contraction * dy / np.maximum(r, 1e-9)
        vel[..., 0, f, 2] = vz
    return vel, mask, sp


def test_cylindrical_frame_follows_the_per_frame_centroid():
    vel, mask, sp = moving_ring(omega=0.5, contraction=7.0, vz=-4.0)
    res = assess(vel, mask, sp)
    myo_r = []
    x, y = np.meshgrid(np.arange(80) * sp[0], np.arange(70) * sp[1], indexing="ij")
    for f in range(8):
        m = mask[..., 0, f] == 1
        cx, cy = 35.0 + 1.3 * f, 50.0 - 0.9 * f
        myo_r.append(np.hypot(x[m] - cx, y[m] - cy).mean())
    # Centroid of a discretised disc is within a fraction of a voxel of the true centre.
    np.testing.assert_allclose(res["curves_mm_s"]["circumferential"], 0.5 * np.array(myo_r),
                               rtol=0.01)
    np.testing.assert_allclose(res["curves_mm_s"]["radial"], 7.0, rtol=0.01)
    np.testing.assert_allclose(res["curves_mm_s"]["longitudinal"], 4.0, rtol=1e-6)
    flipped = assess(vel, mask, sp, z_towards_base=False)
    np.testing.assert_allclose(flipped["curves_mm_s"]["longitudinal"], -4.0, rtol=1e-6)
    assert res["frames"] == 8 and "centroid" in res["conventions"]


def test_above_venc_counts_myocardium_voxels_per_component():
    vel, mask, sp = moving_ring(omega=0.0)
    myo = np.argwhere(mask[..., 0, 5] == 1)
    i, j = myo[0]
    vel[i, j, 0, 5, 2] = 350.0  # through-plane above its venc 300
    k, m = np.argwhere(mask[..., 0, 6] == 1)[0]
    vel[k, m, 0, 6, 0] = -250.0  # x above 200
    blood = np.argwhere(mask[..., 0, 2] == 2)[0]
    vel[blood[0], blood[1], 0, 2, 2] = 900.0  # blood above venc is not flagged
    res = assess(vel, mask, sp, venc=[200, 200, 300])
    flags = res["above_venc"]
    assert flags["voxels"] == 2 and flags["frames"] == [5, 6]
    assert flags["components"]["through_plane"] == {"voxels": 1, "frames": [5]}
    assert flags["components"]["x"] == {"voxels": 1, "frames": [6]}
    assert assess(vel, mask, sp)["above_venc"]["voxels"] is None  # no venc: not checked


def test_likely_wraps_from_phase_alone():
    vel, mask, sp = moving_ring(omega=0.0, contraction=0.0)
    venc = np.array([200.0, 200.0, 300.0], np.float32)
    vel[..., 2] = 100.0
    vel[..., 0, 4, 2] = 280.0  # frame 4: just under the venc (300) ...
    m = (mask[..., 0, 4] == 1) & (np.arange(80)[:, None] > 40)
    vel[..., 0, 4, 2][m] = 320.0  # ... and just above it in half the ring: wraps to −280
    phase = wrap(np.pi * vel / venc)
    res = assess(velocity_from_phase(phase, venc), mask, sp, venc=venc, phase=phase)
    flags = res["above_venc"]
    assert "phase jumps" in flags["method"]
    assert flags["voxels"] > 0 and flags["frames"] == [4]
    assert flags["components"]["x"]["voxels"] == 0
    assert likely_wraps(wrap(np.pi * (vel * 0 + 100) / venc), mask)["voxels"] == 0


def test_bad_inputs_raise_value_errors():
    vel, mask, sp = moving_ring()
    with pytest.raises(ValueError, match="does not match"):
        assess(vel, mask[:-1], sp)
    with pytest.raises(ValueError, match="no myocardium"):
        assess(vel, np.where(mask == 1, 0, mask), sp)
    with pytest.raises(ValueError, match="oversample"):
        assess(vel, mask, sp, oversample=0)


def check_peaks(res, truth, value_tol, time_tol, relative=False):
    for d in DIRECTIONS:
        got, want = res["peaks"][d], truth[d]
        for key, tkey in (("psv", "tpsv"), ("pdv", "tpdv")):
            tol = value_tol * abs(want[key]) if relative else value_tol
            assert abs(got[key] - want[key]) <= tol, (d, key, got[key], want[key])
            assert abs(got[tkey] - want[tkey]) <= time_tol, (d, tkey, got[tkey], want[tkey])


def test_noise_free_phantom_meets_the_issue_target(clean_case):
    """Noise-free: PSV/PDV within 0.5 mm/s and 0.5 frame of the analytic truth, from the
    velocity and from the (wrapped) phase alike; no myocardium voxel above the venc."""
    truth = clean_case.info["truth"]["peaks"]
    from_velocity = assess_case(clean_case)
    from_phase = assess_case(clean_case, phase=clean_case.phase)
    assert from_velocity["source"] == "velocity" and from_phase["source"] == "phase"
    check_peaks(from_velocity, truth, 0.5, 0.5)
    check_peaks(from_phase, truth, 0.5, 0.5)
    assert from_velocity["above_venc"]["voxels"] == 0
    assert from_phase["above_venc"]["voxels"] == 0
    for d in DIRECTIONS:  # the per-frame curves match the analytic ones too
        np.testing.assert_allclose(from_velocity["curves_mm_s"][d],
                                   clean_case.info["truth"]["curves_mm_s"][d], atol=0.3)


def test_snr20_phase_meets_the_issue_target(noisy_case):
    """SNR 20, from the noisy phase: within 5 % and 1 frame."""
    assert noisy_case.info["snr"] == 20
    res = assess_case(noisy_case, phase=noisy_case.phase)
    check_peaks(res, noisy_case.info["truth"]["peaks"], 0.05, 1.0, relative=True)
    assert res["above_venc"]["voxels"] == 0


def test_oversampling_changes_peaks_not_curves(clean_case):
    a = assess_case(clean_case, oversample=1)
    b = assess_case(clean_case, oversample=4)
    assert a["curves_mm_s"] == b["curves_mm_s"] and b["oversample"] == 4
    truth = clean_case.info["truth"]["peaks"]["radial"]["pdv"]
    assert abs(b["peaks"]["radial"]["pdv"] - truth) <= abs(a["peaks"]["radial"]["pdv"] - truth)
