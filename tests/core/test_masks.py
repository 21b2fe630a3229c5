"""Mask families: achieved R, seeds, and the geometric promise of each family."""

from __future__ import annotations

import numpy as np
import pytest

from headtwin_app.core import masks as M

SHAPES = {"2d": (64, 64), "3d": (64, 40)}  # 2D (ky, kx) plane; 3D (ky, kz) plane
CAPPED = {"upper_half", "partial_fourier"}


def cases():
    for fam in M.FAMILY_NAMES:
        for accel in (2.0, 4.0, 8.0):
            for label in SHAPES:
                yield pytest.param(fam, accel, label, id=f"{fam}-R{accel:g}-{label}")


@pytest.mark.parametrize("family,accel,label", list(cases()))
def test_achieved_accel_within_2_percent(family: str, accel: float, label: str) -> None:
    shape = SHAPES[label]
    if family in CAPPED and accel > 2:
        with pytest.raises(ValueError, match="R <= 2"):
            M.make_mask(family, shape, accel, seed=0)
        mask = M.make_mask(family, shape, accel, seed=0, combine_with=M.DEFAULT_FILL[family])
    else:
        mask = M.make_mask(family, shape, accel, seed=0)
    assert mask.shape == shape and mask.dtype == bool
    assert abs(M.achieved_accel(mask) / accel - 1) <= 0.02


@pytest.mark.parametrize("family", M.FAMILY_NAMES)
def test_same_seed_same_mask(family: str) -> None:
    a = M.make_mask(family, (48, 40), 2.0, seed=5)
    b = M.make_mask(family, (48, 40), 2.0, seed=5)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("family", ["random_line", "random_points", "cartesian", "radial",
                                    "spiral", "equispaced"])
def test_different_seeds_differ(family: str) -> None:
    a = M.make_mask(family, (64, 64), 4.0, seed=1)
    b = M.make_mask(family, (64, 64), 4.0, seed=2)
    assert not np.array_equal(a, b)


def test_upper_half_keeps_the_upper_half() -> None:
    m = M.upper_half((64, 32), 2.0)
    assert m[:32].all() and not m[32:].any()


def test_kmax_keeps_only_the_centre() -> None:
    m = M.kmax((64, 64), 4.0)
    ys, xs = np.nonzero(m)
    assert m[32, 32]
    assert ys.min() >= 16 and ys.max() <= 48 and xs.min() >= 16 and xs.max() <= 48
    assert m[24:40, 24:40].all()  # a solid box around DC


def test_equispaced_has_a_fully_sampled_centre() -> None:
    m = M.equispaced((128, 64), 4.0, center_fraction=0.08)
    n_centre = round(128 * 0.08)
    assert m[64 - n_centre // 2: 64 - n_centre // 2 + n_centre].all()
    rows = np.flatnonzero(m.any(axis=1))
    outer = rows[(rows < 64 - n_centre // 2) | (rows >= 64 - n_centre // 2 + n_centre)]
    gaps = np.sort(np.diff(outer))[:-1]  # the largest gap jumps over the centre band
    assert gaps.max() - gaps.min() <= 1


@pytest.mark.parametrize("fraction", [0.5, 0.625, 0.75, 1.0])
def test_partial_fourier_keeps_the_fraction(fraction: float) -> None:
    m = M.partial_fourier((64, 32), 1.0 / fraction)
    kept = np.flatnonzero(m.all(axis=1))
    assert kept.size == round(64 * fraction)
    assert 32 in kept  # the DC line
    np.testing.assert_array_equal(kept, np.arange(kept[0], kept[0] + kept.size))  # one block
    assert kept[0] <= 1 and not m[kept[-1] + 1:].any()  # from the top edge


def test_partial_fourier_both_axes() -> None:
    m = M.partial_fourier((64, 64), 2.0, both_axes=True)
    assert abs(M.achieved_accel(m) / 2 - 1) <= 0.02
    assert m[0, 0] and not m[-1, -1] and m[32, 32]


def test_line_families_keep_whole_lines() -> None:
    for fam in ("random_line", "cartesian", "equispaced", "upper_half"):
        m = M.make_mask(fam, (64, 40), 2.0, seed=3)
        rows = m.any(axis=1)
        assert (m[rows].all(axis=1)).all(), fam


def test_centre_sampled_by_centre_families() -> None:
    for fam in ("cartesian", "equispaced", "kmax", "radial", "spiral", "elliptical"):
        assert M.make_mask(fam, (64, 64), 8.0, seed=0)[32, 32], fam


def test_elliptical_is_inside_the_ellipse() -> None:
    m = M.elliptical((64, 64), 2.0)
    ky, kx = np.nonzero(m)
    r = ((ky - 32) / 32.0) ** 2 + ((kx - 32) / 32.0) ** 2
    assert r.max() <= 1.0


def test_compose_is_a_product_and_support_reaches_r() -> None:
    e = M.elliptical((64, 64), 4 / np.pi)
    u = M.equispaced((64, 64), 2.0)
    np.testing.assert_array_equal(M.compose(e, u), e & u)
    inside = M.make_mask("equispaced", (64, 64), 4.0, support=M.upper_half((64, 64), 1.25))
    assert abs(M.achieved_accel(inside) / 4 - 1) <= 0.02
    pf = M.make_mask("random_points", (64, 64), 4.0, pf_fraction=0.75)
    assert not pf[48:].any() and abs(M.achieved_accel(pf) / 4 - 1) <= 0.02


@pytest.mark.parametrize("accel", [0.5, 0.999, float("nan"), -2])
def test_r_below_one_is_an_error(accel: float) -> None:
    with pytest.raises(ValueError, match="R must be"):
        M.make_mask("radial", (32, 32), accel)


def test_unreachable_r_is_an_error() -> None:
    with pytest.raises(ValueError, match="nearest"):
        M.random_line((32, 32), 3.0)  # 32/11 = 2.91, 32/10 = 3.2
    with pytest.raises(ValueError, match="unknown mask family"):
        M.make_mask("zigzag", (32, 32), 2.0)
    with pytest.raises(ValueError, match="centre band"):
        M.equispaced((64, 64), 32.0, center_fraction=0.25)


def test_masks_are_nested_in_r_for_priority_families() -> None:
    for fam in ("random_points", "radial", "spiral", "kmax", "elliptical", "random_line"):
        lo = M.make_mask(fam, (64, 64), 2.0, seed=4)
        hi = M.make_mask(fam, (64, 64), 8.0, seed=4)
        assert not (hi & ~lo).any(), fam


def test_expand_mask_3d_keeps_readout_full() -> None:
    m = M.radial((16, 12), 2.0)
    full = np.broadcast_to(M.expand_mask(m, 3), (16, 20, 12))
    assert (full == m[:, None, :]).all()
    assert M.plane_shape((16, 20, 12), 3) == (16, 12)


@pytest.mark.parametrize("family", ["random_line", "random_points"])
def test_random_families_keep_a_small_centre_by_default(family: str) -> None:
    """Without a centre the DC line can be missed (a near-black image); the default keeps one,
    and center_fraction=0 still gives the paper's literal pattern."""
    shape = (128, 128)
    misses_dc = 0
    for seed in range(20):
        m = M.make_mask(family, shape, 8.0, seed)
        centre = m[62:67, 62:67] if family == "random_points" else m[63:66]
        assert centre.all()
        assert M.achieved_accel(m) == pytest.approx(8.0, rel=0.02)
        literal = M.make_mask(family, shape, 8.0, seed, center_fraction=0.0)
        misses_dc += not literal[64, 64]
    assert misses_dc > 0  # the literal pattern leaves the centre to chance
    for r in (16.0, 32.0):  # the default centre shrinks so high R stays reachable
        assert M.achieved_accel(M.make_mask(family, shape, r, 0)) == pytest.approx(r, rel=0.02)
