"""k-t mask families: achieved R per frame and overall, seeds, and the x-f PSF of each family."""

from __future__ import annotations

import numpy as np
import pytest

from headtwin_app.core import kt_masks as K
from headtwin_app.core import masks as M

SHAPES = ((20, 192, 192), (12, 64, 64), (7, 97, 45))
ACCELS = (2.0, 4.0, 6.0, 8.0)


def _lines_reachable(ny: int, accel: float) -> bool:
    """Whether round(ny/R) whole lines give R within 2 % (else Cartesian families refuse)."""
    n = round(ny / accel)
    return n > 0 and abs(ny / n / accel - 1) <= M.TOLERANCE


def test_registry_is_separate_from_the_2d_families() -> None:
    assert K.KT_FAMILY_NAMES == ("kt_vd_cartesian", "kt_lattice", "kt_random",
                                 "kt_golden_radial")
    assert tuple(K.KT_FAMILIES) == K.KT_FAMILY_NAMES
    assert not set(K.KT_FAMILY_NAMES) & set(M.FAMILY_NAMES)
    assert [f.cartesian for f in K.KT_FAMILIES.values()] == [True, True, True, False]
    assert all(f.name == n and f.description for n, f in K.KT_FAMILIES.items())


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("accel", ACCELS, ids=lambda r: f"R{r:g}")
@pytest.mark.parametrize("family", K.KT_FAMILY_NAMES)
def test_achieved_accel_within_2_percent(family: str, accel: float,
                                         shape: tuple[int, int, int]) -> None:
    if K.KT_FAMILIES[family].cartesian and not _lines_reachable(shape[1], accel):
        with pytest.raises(ValueError, match="cannot be reached within 2 %"):
            K.make_kt_mask(family, shape, accel)
        return
    mask = K.make_kt_mask(family, shape, accel, seed=3)
    assert mask.shape == shape and mask.dtype == bool
    assert abs(K.achieved_accel_kt(mask) / accel - 1) <= 0.02
    per_frame = K.per_frame_accel(mask)
    assert per_frame.shape == (shape[0],)
    assert np.all(np.abs(per_frame / accel - 1) <= 0.02)


def test_unreachable_cartesian_combination_is_reported_not_missed() -> None:
    assert not _lines_reachable(64, 6.0)  # 11 lines: 5.82, 10 lines: 6.4
    with pytest.raises(ValueError, match=r"R=5\.82 or R=6\.4"):
        K.kt_random((4, 64, 64), 6.0)


def test_per_frame_accel_counts_each_frame() -> None:
    mask = np.zeros((3, 4, 5), dtype=bool)
    mask[0] = True
    mask[1, :2] = True
    np.testing.assert_allclose(K.per_frame_accel(mask), [1.0, 2.0, np.inf])
    assert K.achieved_accel_kt(mask) == pytest.approx(60 / 30)


@pytest.mark.parametrize("family", K.KT_FAMILY_NAMES)
def test_same_seed_same_mask_other_seed_other_mask(family: str) -> None:
    shape = (8, 48, 40)
    a = K.make_kt_mask(family, shape, 4.0, seed=5)
    np.testing.assert_array_equal(a, K.make_kt_mask(family, shape, 4.0, seed=5))
    others = [K.make_kt_mask(family, shape, 4.0, seed=s) for s in (6, 7, 8)]
    assert any(not np.array_equal(a, b) for b in others)


@pytest.mark.parametrize("family", ["kt_vd_cartesian", "kt_lattice", "kt_random"])
def test_cartesian_families_keep_whole_rows(family: str) -> None:
    mask = K.make_kt_mask(family, (6, 64, 33), 4.0, seed=1)
    rows = np.asarray(mask.any(axis=2))
    np.testing.assert_array_equal(mask, np.repeat(rows[:, :, None], 33, axis=2))
    assert np.all(rows.sum(axis=1) == 16)


def test_vd_centre_lines_in_every_frame_and_patterns_differ() -> None:
    ny = 192
    mask = K.kt_vd_cartesian((20, ny, 16), 8.0, seed=2)
    rows = mask[:, :, 0]
    default = max(2, round(0.04 * ny))  # 8 lines around the DC row 96
    centre = np.arange(ny // 2 - default // 2, ny // 2 - default // 2 + default)
    assert rows[:, centre].all()
    assert rows[:, ny // 2].all()
    assert len({frame.tobytes() for frame in rows}) == rows.shape[0]  # no two frames alike
    explicit = K.kt_vd_cartesian((5, 64, 8), 4.0, seed=0, centre_lines=6)[:, :, 0]
    assert explicit[:, 29:35].all()


def test_vd_default_centre_shrinks_so_high_r_stays_reachable() -> None:
    rows = K.kt_vd_cartesian((4, 64, 4), 16.0, seed=0)[:, :, 0]  # 4 lines a frame
    assert rows.sum(axis=1).tolist() == [4, 4, 4, 4]
    assert rows[:, 31:33].all()  # default 3, capped at 4 // 2 = 2 lines


def test_vd_samples_central_lines_more_often_than_outer() -> None:
    ny = 64
    rows = K.kt_vd_cartesian((400, ny, 1), 4.0, seed=0, centre_lines=2)[:, :, 0]
    freq = rows.mean(axis=0)
    ky = np.abs(np.arange(ny) - ny // 2)
    inner = freq[(ky >= 2) & (ky <= 8)].mean()
    outer = freq[ky >= 20].mean()
    assert inner > 2.5 * outer
    assert outer > 0  # the uniform floor keeps outer lines possible
    uniform = K.kt_random((400, ny, 1), 4.0, seed=0, centre_lines=2)[:, :, 0].mean(axis=0)
    assert abs(uniform[(ky >= 2) & (ky <= 8)].mean() / uniform[ky >= 20].mean() - 1) < 0.2


def test_random_keeps_centre_and_redraws_each_frame() -> None:
    rows = K.kt_random((10, 96, 4), 4.0, seed=4, centre_lines=4)[:, :, 0]
    assert rows[:, 46:50].all()
    assert len({frame.tobytes() for frame in rows}) == 10


@pytest.mark.parametrize("shape,accel", [((24, 96, 8), 4.0), ((9, 97, 5), 4.0),
                                         ((10, 64, 4), 2.0), ((6, 50, 3), 3.3)])
def test_lattice_is_sheared_one_line_per_frame(shape: tuple[int, int, int],
                                               accel: float) -> None:
    mask = K.kt_lattice(shape, accel, seed=7)
    for t in range(shape[0] - 1):
        np.testing.assert_array_equal(mask[t + 1], np.roll(mask[t], 1, axis=0))


def test_lattice_integer_r_keeps_one_residue_per_frame() -> None:
    rows = K.kt_lattice((12, 96, 2), 4.0, seed=9)[:, :, 0]
    offset = int(np.flatnonzero(rows[0])[0])
    for t in range(12):
        np.testing.assert_array_equal(np.flatnonzero(rows[t]) % 4,
                                      np.full(24, (t + offset) % 4))


def test_lattice_with_centre_lines_keeps_total_per_frame() -> None:
    rows = K.kt_lattice((8, 96, 2), 4.0, seed=0, centre_lines=8)[:, :, 0]
    assert rows[:, 44:52].all()
    assert rows.sum(axis=1).tolist() == [24] * 8
    assert len({frame.tobytes() for frame in rows}) > 1


@pytest.mark.parametrize("accel", [2, 4, 6, 8])
def test_lattice_psf_has_exactly_r_replicas(accel: int) -> None:
    psf = K.xf_psf(K.kt_lattice((24, 96, 16), float(accel), seed=1))
    assert psf.shape == (24, 96) and psf.dtype == np.float32
    peaks = np.argwhere(psf > 0.5)
    assert len(peaks) == accel
    np.testing.assert_allclose(psf[psf > 0.5], 1.0, atol=1e-5)
    assert psf[psf <= 0.5].max() < 1e-5
    # replicas along the shear: (f, y) ≡ q·(nt/R, ∓ny/R) from the centre, modulo the grid
    offsets = {((int(f) - 12) % 24, (int(y) - 48) % 96) for f, y in peaks}
    for sign in (1, -1):
        expected = {(q * 24 // accel, sign * q * 96 // accel % 96) for q in range(accel)}
        if offsets == expected:
            break
    else:
        pytest.fail(f"replicas {sorted(offsets)} do not lie along the shear")
    assert K.psf_peak_sidelobe(psf) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("accel", [2.0, 4.0, 8.0])
def test_random_and_vd_are_less_coherent_than_the_lattice(accel: float) -> None:
    shape = (24, 96, 8)
    lattice = K.psf_peak_sidelobe(K.xf_psf(K.kt_lattice(shape, accel, seed=0)))
    for family in ("kt_random", "kt_vd_cartesian", "kt_golden_radial"):
        ratio = K.psf_peak_sidelobe(K.xf_psf(K.make_kt_mask(family, shape, accel, seed=0)))
        assert ratio < 0.6 * lattice, family


def test_xf_psf_axes_and_normalisation() -> None:
    full = np.ones((8, 16, 4), dtype=bool)
    psf = K.xf_psf(full)
    assert psf.shape == (8, 16) and psf[4, 8] == 1.0
    assert np.count_nonzero(psf > 1e-6) == 1  # fully sampled: a single point
    assert K.psf_peak_sidelobe(psf) == 0.0
    # lines constant in time alias only at f = 0: every other frequency row is empty
    static = np.zeros((8, 16, 4), dtype=bool)
    static[:, ::2] = True
    psf = K.xf_psf(static)
    assert psf[np.arange(8) != 4].max() < 1e-6
    assert psf[4, 0] == pytest.approx(1.0, abs=1e-6)  # the fold at y = ±ny/2
    # a non-Cartesian mask: the PSF is that of the mask summed over kx
    rng = np.random.default_rng(0)
    points = rng.random((6, 10, 7)) < 0.3
    ref = np.abs(np.fft.fftshift(np.fft.ifft(np.fft.fft(np.fft.ifftshift(
        points.sum(axis=2).astype(float)), axis=0), axis=1)))
    np.testing.assert_allclose(K.xf_psf(points), ref / ref[3, 5], atol=1e-6)


def test_psf_peak_sidelobe_skips_a_wide_main_lobe() -> None:
    psf = np.zeros((9, 21))
    psf[4, 10], psf[4, 9], psf[4, 11], psf[4, 8], psf[4, 12] = 1.0, 0.8, 0.8, 0.4, 0.4
    psf[4, 13] = 0.45  # first rise: a sidelobe
    psf[1, 3] = 0.3
    assert K.psf_peak_sidelobe(psf) == pytest.approx(0.45)
    with pytest.raises(ValueError, match="2D"):
        K.psf_peak_sidelobe(np.ones(5))


@pytest.mark.parametrize("shape", [(10, 64, 64), (5, 33, 47)])
def test_golden_radial_holds_centre_and_rotates_between_frames(
        shape: tuple[int, int, int]) -> None:
    nt, ny, nx = shape
    mask = K.kt_golden_radial(shape, 8.0, seed=0)
    assert mask[:, ny // 2, nx // 2].all()
    for t in range(nt - 1):
        assert not np.array_equal(mask[t], mask[t + 1])
    # outer k-space: the frames' spokes point elsewhere, so the frames cover more together
    assert mask.any(axis=0).sum() > 2 * mask[0].sum()


def test_golden_radial_spoke_angles_differ_between_frames() -> None:
    ny = nx = 64
    mask = K.kt_golden_radial((4, ny, nx), 16.0, seed=0)
    ky, kx = np.mgrid[:ny, :nx]
    ky, kx = ky - ny // 2, kx - nx // 2
    ring = (np.hypot(ky, kx) > 20) & (np.hypot(ky, kx) < 30)
    angles = [np.sort(np.round(np.mod(np.arctan2(ky[m & ring], kx[m & ring]), np.pi), 1))
              for m in mask]
    for a, b in zip(angles, angles[1:], strict=False):
        assert not np.array_equal(np.unique(a), np.unique(b))


def test_unknown_family_names_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="kt_vd_cartesian, kt_lattice, kt_random, "
                                         "kt_golden_radial"):
        K.make_kt_mask("cartesian", (4, 16, 16), 2.0)


@pytest.mark.parametrize("accel", [0.5, 0.0, -2.0, float("nan"), float("inf")])
def test_accel_below_one_is_refused(accel: float) -> None:
    for family in K.KT_FAMILY_NAMES:
        with pytest.raises(ValueError, match="R must be a number >= 1"):
            K.make_kt_mask(family, (4, 16, 16), accel)


@pytest.mark.parametrize("family", K.KT_FAMILY_NAMES)
def test_unreachable_r_is_refused(family: str) -> None:
    with pytest.raises(ValueError, match="R=100"):
        K.make_kt_mask(family, (4, 8, 1), 100.0)


@pytest.mark.parametrize("shape", [(16, 16), (4, 16, 16, 2), (0, 16, 16), (4, -1, 16),
                                   (4, 16.5, 16), (4, 1, 16), "abc", 5])
def test_bad_shape_is_refused(shape: object) -> None:
    for family in K.KT_FAMILY_NAMES:
        with pytest.raises(ValueError):
            K.make_kt_mask(family, shape, 2.0)  # type: ignore[arg-type]


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="does not take centre_lines"):
        K.make_kt_mask("kt_golden_radial", (4, 16, 16), 2.0, centre_lines=2)
    with pytest.raises(ValueError, match="does not take sigma"):
        K.make_kt_mask("kt_random", (4, 16, 16), 2.0, sigma=0.2)
    with pytest.raises(ValueError, match="more than the 4 ky lines"):
        K.make_kt_mask("kt_vd_cartesian", (4, 16, 16), 4.0, centre_lines=6)
    with pytest.raises(ValueError, match="centre_lines must be >= 0"):
        K.kt_lattice((4, 16, 16), 4.0, centre_lines=-1)
    with pytest.raises(ValueError, match="sigma must be > 0"):
        K.kt_vd_cartesian((4, 16, 16), 2.0, sigma=0.0)
    with pytest.raises(ValueError, match="k-t mask"):
        K.xf_psf(np.ones((4, 4), dtype=bool))
    mask = K.make_kt_mask("kt_vd_cartesian", (4, 32, 8), 2.0, seed=1, centre_lines=4,
                          sigma=0.2)
    assert mask[:, 14:18].all()
