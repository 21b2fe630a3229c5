"""The cardiac phantom's ground truth: finite differences of its motion are its velocities, the
myocardium keeps its volume, and the rendered cine agrees with the analytic field."""

import numpy as np
import pytest

from headtwin_app.core.cardiac.motion import LVMotion
from headtwin_app.core.cardiac.phantom import calibrate, draw_subject, make_case
from headtwin_app.core.cardiac.velocity import DIRECTIONS


@pytest.mark.parametrize("t", [0.03, 0.12, 0.3, 0.45, 0.6, 0.86])
def test_finite_differences_of_the_motion_are_the_velocities(t):
    m = draw_subject(4).motion
    rng = np.random.default_rng(0)
    z0 = rng.uniform(10, m.length - 5, 200)
    ri, ro = m.radii(z0)
    r0 = ri + rng.uniform(0, 1, 200) * (ro - ri)
    th0 = rng.uniform(-np.pi, np.pi, 200)
    dt = 1e-6
    a = m.forward(t - dt, r0, th0, z0)
    b = m.forward(t + dt, r0, th0, z0)
    r, th, z = m.forward(t, r0, th0, z0)
    fd = ((b[0] - a[0]) / (2 * dt * m.rr_s), r * (b[1] - a[1]) / (2 * dt * m.rr_s),
          (b[2] - a[2]) / (2 * dt * m.rr_s))
    v = m.velocity(t, r, th, z)
    for got, want in zip(v, fd, strict=True):
        np.testing.assert_allclose(got, want, atol=2e-3)


def test_the_myocardium_keeps_its_volume():
    """det F = 1: the Jacobian of the material → spatial map, by central differences."""
    m = LVMotion()
    r0, th0, z0 = np.array([28.0, 31.0]), np.array([0.3, 2.0]), np.array([40.0, 70.0])
    h = 1e-4
    for t in (0.1, 0.35, 0.5):
        def cart(r, th, z, t=t):
            rr, tt, zz = m.forward(t, r, th, z)
            return np.stack([rr * np.cos(tt), rr * np.sin(tt), zz])
        jac = []
        for d in range(3):
            e = [np.zeros(2), np.zeros(2), np.zeros(2)]
            e[d] = np.full(2, h)
            hi = cart(r0 + e[0], th0 + e[1], z0 + e[2])
            lo = cart(r0 - e[0], th0 - e[1], z0 - e[2])
            jac.append((hi - lo) / (2 * h))
        for k in range(2):
            jm = np.array([[jac[c][row, k] for c in range(3)] for row in range(3)])
            # the material volume element in cylindrical coordinates is R dR dΘ dZ
            assert np.linalg.det(jm) == pytest.approx(r0[k], rel=1e-5)


def test_every_seed_is_another_subject_calibrated_near_the_paper():
    a, b = calibrate(draw_subject(1)), calibrate(draw_subject(2))
    assert a.heart_rate != b.heart_rate and a.motion.r_endo != b.motion.r_endo


def test_case_truth_and_layout():
    case = make_case(3, frames=20, slices=2, size=96, snr=0)
    assert case.magnitude.shape == (96, 96, 2, 20)
    assert case.velocity.shape == case.phase.shape == (96, 96, 2, 20, 3)
    assert set(np.unique(case.lv_mask)) == {0, 1, 2}
    info = case.info
    assert info["synthetic"] is True and len(info["frame_times_ms"]) == 20
    # noise-free: the phase decodes to the velocity wherever |v| < venc and there is signal
    venc = np.array(info["venc_mm_s"])
    myo = case.lv_mask == 1
    decoded = case.phase[myo] * venc / np.pi
    np.testing.assert_allclose(decoded, case.velocity[myo], atol=1e-3)
    # blood wraps: some blood-pool voxels exceed the through-plane venc
    assert np.abs(case.velocity[case.lv_mask == 2][:, 2]).max() > venc[2]
    # the truth curves are the mean over the myocardium mask in the cylindrical frame
    for d in DIRECTIONS:
        assert len(info["truth"]["curves_mm_s"][d]) == 20
    peaks = info["truth"]["peaks"]
    assert 20 < peaks["radial"]["psv"] < 36 and 35 < peaks["radial"]["pdv"] < 60
