"""Editing tools against hand-computed references: brush, eraser, fill, threshold paint,
interpolation, island removal, overwrite rules, proposal review, sparse undo/redo."""

from __future__ import annotations

import numpy as np
import pytest

from headtwin_app.core.edit import (
    EditHistory,
    LabelDiff,
    OverwriteRule,
    accept_structure,
    annotated_slices,
    erase,
    flood_fill_slice,
    interpolate_slices,
    paint,
    paint_offsets,
    proposal_changes,
    reject_structure,
    remove_islands,
)


def blank(shape=(9, 9, 9)) -> np.ndarray:
    return np.zeros(shape, dtype=np.int16)


# --- brush -------------------------------------------------------------------------------------
def test_disc_radius_1_is_a_plus_sign() -> None:
    lab = blank()
    diff = paint(lab, (4, 4, 4), 1, 3, axis=2)
    expected = blank()
    for i, j in [(4, 4), (3, 4), (5, 4), (4, 3), (4, 5)]:
        expected[i, j, 4] = 3
    np.testing.assert_array_equal(lab, expected)
    assert len(diff) == 5 and set(diff.new) == {3} and set(diff.old) == {0}
    assert diff.indices.dtype == np.int32 and diff.old.dtype == np.int16


def test_disc_radius_2_count_and_radius_0() -> None:
    # lattice points with i²+j² ≤ 4: 13
    assert len(paint_offsets(2, axis=0)) == 13
    assert len(paint_offsets(0)) == 1
    # sphere radius 1: the centre and its 6 face neighbours
    assert len(paint_offsets(1)) == 7
    # radius √2 sphere: 1 + 6 + 12 edge neighbours
    assert len(paint_offsets(np.sqrt(2))) == 19


def test_brush_respects_anisotropic_spacing() -> None:
    # spacing (1, 1, 3): a radius-3 sphere reaches 3 voxels in x/y but only 1 in z
    off = paint_offsets(3, (1.0, 1.0, 3.0))
    assert off[:, 0].max() == 3 and off[:, 2].max() == 1
    # along z only the points (0,0,±1) are at distance 3
    assert {tuple(o) for o in off if o[2] != 0} == {(0, 0, 1), (0, 0, -1)}
    # a disc in the axial plane ignores the z spacing
    assert len(paint_offsets(2, (1.0, 1.0, 3.0), axis=2)) == 13


def test_brush_clipped_at_edges() -> None:
    lab = blank((4, 4, 1))
    paint(lab, (0, 0, 0), 1, 1, axis=2)
    assert lab.sum() == 3  # centre + right + up


def test_overwrite_rules() -> None:
    lab = blank()
    lab[4, 4, 4] = 2
    lab[3, 4, 4] = 5
    paint(lab, (4, 4, 4), 1, 7, axis=2, rule=OverwriteRule("background"))
    assert lab[4, 4, 4] == 2 and lab[3, 4, 4] == 5 and lab[5, 4, 4] == 7
    lab2 = blank()
    lab2[4, 4, 4] = 2
    lab2[3, 4, 4] = 5
    paint(lab2, (4, 4, 4), 1, 7, axis=2, rule=OverwriteRule("label", 2))
    assert lab2[4, 4, 4] == 7 and lab2[3, 4, 4] == 5 and lab2[5, 4, 4] == 0
    with pytest.raises(ValueError, match="unknown overwrite rule"):
        OverwriteRule("some")


def test_eraser_all_and_only_one_label() -> None:
    lab = blank()
    lab[4, 4, 4] = 2
    lab[3, 4, 4] = 5
    erase(lab, (4, 4, 4), 1, axis=2, only=5)
    assert lab[4, 4, 4] == 2 and lab[3, 4, 4] == 0
    diff = erase(lab, (4, 4, 4), 1, axis=2)
    assert lab.sum() == 0 and list(diff.old) == [2]


def test_threshold_limited_paint() -> None:
    lab = blank((5, 5, 1))
    image = np.arange(25, dtype=float).reshape(5, 5, 1)
    paint(lab, (2, 2, 0), 2, 1, axis=2, image=image, threshold=(10, 14))
    # disc of radius 2 around (2,2) ∩ image values 10..14 (row i = 2)
    np.testing.assert_array_equal(np.flatnonzero(lab), [10, 11, 12, 13, 14])
    with pytest.raises(ValueError, match="needs the image"):
        paint(lab, (2, 2, 0), 1, 1, axis=2, threshold=(0, 1))


def test_paint_same_label_is_empty_diff() -> None:
    lab = blank()
    paint(lab, (4, 4, 4), 1, 3)
    assert len(paint(lab, (4, 4, 4), 1, 3)) == 0


def test_non_contiguous_labels_rejected() -> None:
    lab = blank().transpose(2, 1, 0)
    with pytest.raises(ValueError, match="C-contiguous"):
        paint(lab, (1, 1, 1), 1, 1)


# --- fill --------------------------------------------------------------------------------------
def test_flood_fill_within_slice_stops_at_walls() -> None:
    lab = blank((6, 6, 3))
    lab[2, :, 1] = 4  # a wall at i = 2 on slice z = 1
    diff = flood_fill_slice(lab, (0, 0, 1), axis=2, value=9)
    assert (lab[:2, :, 1] == 9).all() and (lab[3:, :, 1] == 0).all()
    assert (lab[:, :, 0] == 0).all() and (lab[:, :, 2] == 0).all()
    assert len(diff) == 12
    # filling the wall region itself replaces label 4 with 9
    flood_fill_slice(lab, (2, 0, 1), axis=2, value=9)
    assert (lab[:3, :, 1] == 9).all()


def test_flood_fill_connectivity_and_rules() -> None:
    lab = blank((3, 3, 1))
    lab[1, 1, 0] = 0
    lab[0, 1, 0] = lab[1, 0, 0] = lab[1, 2, 0] = lab[2, 1, 0] = 5  # plus-shaped wall
    flood_fill_slice(lab, (0, 0, 0), axis=2, value=1)
    assert lab[0, 0, 0] == 1 and lab[2, 2, 0] == 0 and lab[1, 1, 0] == 0
    lab[0, 0, 0] = 0
    flood_fill_slice(lab, (0, 0, 0), axis=2, value=1, connectivity=2)
    assert lab[0, 0, 0] == 1 and lab[2, 2, 0] == 1 and lab[1, 1, 0] == 1
    # background-only rule refuses to fill over label 5
    assert len(flood_fill_slice(lab, (0, 1, 0), 2, 3, rule=OverwriteRule("background"))) == 0


def test_flood_fill_with_threshold() -> None:
    lab = blank((5, 1, 1))
    image = np.array([1, 2, 9, 2, 1], dtype=float).reshape(5, 1, 1)
    flood_fill_slice(lab, (0, 0, 0), axis=1, value=2, image=image, threshold=(0, 5))
    np.testing.assert_array_equal(lab.ravel(), [2, 2, 0, 0, 0])


# --- interpolation -----------------------------------------------------------------------------
def test_interpolate_square_widths() -> None:
    lab = blank((21, 21, 5))
    lab[8:13, 8:13, 0] = 3  # half-width 2 around 10
    lab[4:17, 4:17, 4] = 3  # half-width 6
    assert annotated_slices(lab, 3, axis=2) == [0, 4]
    diff = interpolate_slices(lab, 3, axis=2)
    # on the central row sdf0 = |x|-3, sdf1 = |x|-7; at t=1/2 inside iff |x| < 5 → half-width 4
    row = np.flatnonzero(lab[:, 10, 2] == 3)
    assert row.min() == 6 and row.max() == 14
    row1 = np.flatnonzero(lab[:, 10, 1] == 3)  # t = 1/4: |x| - 4 < 0 → half-width 3
    assert row1.min() == 7 and row1.max() == 13
    assert set(np.unique(diff.new)) == {3} and set(np.unique(diff.old)) == {0}


def test_interpolate_identical_slices_copies_shape_and_respects_rule() -> None:
    lab = blank((7, 7, 4))
    lab[2:5, 1:6, 0] = lab[2:5, 1:6, 3] = 1
    lab[3, 3, 1] = 8  # another label in the gap, kept by the default background-only rule
    interpolate_slices(lab, 1, axis=2, start=0, stop=3)
    assert (lab[2:5, 1:6, 2] == 1).all() and lab.sum() == 15 * 4 - 1 + 8
    assert lab[3, 3, 1] == 8
    with pytest.raises(ValueError, match="holds no label"):
        interpolate_slices(lab, 1, axis=0, start=0, stop=3)
    with pytest.raises(ValueError, match="at least two"):
        interpolate_slices(blank(), 1, axis=2)


# --- islands -----------------------------------------------------------------------------------
def test_remove_islands_min_size_and_keep_largest() -> None:
    lab = blank((10, 10, 10))
    lab[0:3, 0:3, 0:3] = 1  # 27 voxels
    lab[6:8, 6:8, 6] = 1  # 4 voxels
    lab[9, 9, 9] = 1  # 1 voxel
    lab[5, 0, 0] = 2  # a different label, untouched
    keep = lab.copy()
    diff = remove_islands(lab, 1, min_size=2)
    assert lab[9, 9, 9] == 0 and lab[6, 6, 6] == 1 and len(diff) == 1
    lab = keep.copy()
    remove_islands(lab, 1, keep_largest=True)
    assert (lab == 1).sum() == 27 and lab[5, 0, 0] == 2
    lab = keep.copy()
    remove_islands(lab, None, min_size=5)  # all labels: drops the 4-voxel, 1-voxel, and label 2
    assert (lab == 1).sum() == 27 and (lab == 2).sum() == 0
    # diagonal neighbours join only with higher connectivity
    lab = blank((3, 3, 3))
    lab[0, 0, 0] = lab[1, 1, 1] = 1
    assert len(remove_islands(lab.copy(), 1, min_size=2, connectivity=1)) == 2
    assert len(remove_islands(lab.copy(), 1, min_size=2, connectivity=3)) == 0


# --- proposal review ---------------------------------------------------------------------------
def test_accept_reject_and_changes() -> None:
    proposal = blank((6, 1, 1))
    proposal[:3] = 4
    proposal[3:5] = 5
    lab = blank((6, 1, 1))
    lab[2:4] = 4  # annotator's own 4 overlaps the proposal's 5
    assert proposal_changes(proposal, lab) == {4: {"added": 1, "removed": 2},
                                               5: {"added": 0, "removed": 2}}
    diff = accept_structure(lab, proposal, 4)
    np.testing.assert_array_equal(lab.ravel(), [4, 4, 4, 0, 0, 0])
    assert diff.added_removed() == {4: (2, 1)}
    accept_structure(lab, proposal, 5)
    np.testing.assert_array_equal(lab.ravel(), proposal.ravel())
    lab[5] = 5
    reject_structure(lab, proposal, 5)
    np.testing.assert_array_equal(lab.ravel(), [4, 4, 4, 0, 0, 5])


# --- history -----------------------------------------------------------------------------------
def test_stroke_is_one_undo_step_and_redo_restores_exactly() -> None:
    rng = np.random.default_rng(0)
    lab = rng.integers(0, 3, (12, 12, 12)).astype(np.int16)
    before = lab.copy()
    hist = EditHistory()
    hist.begin_stroke("brush")
    for c in [(3, 3, 6), (4, 3, 6), (5, 4, 6), (5, 5, 6)]:  # overlapping dabs
        hist.push(paint(lab, c, 2, 7, axis=2))
    merged = hist.commit_stroke()
    after = lab.copy()
    assert len(hist) == 1
    assert len(merged) == int((before != after).sum())
    assert len(np.unique(merged.indices)) == len(merged)
    hist.undo(lab)
    np.testing.assert_array_equal(lab, before)
    hist.redo(lab)
    np.testing.assert_array_equal(lab, after)
    assert hist.undo(lab) is not None and hist.undo(lab) is None
    np.testing.assert_array_equal(lab, before)


def test_history_bounded_and_redo_cleared() -> None:
    lab = blank((60, 1, 1))
    hist = EditHistory(max_steps=50)
    for i in range(60):
        hist.push(paint(lab, (i, 0, 0), 0, 1))
    assert len(hist) == 50
    for _ in range(50):
        hist.undo(lab)
    assert lab[:10].all() and not lab[10:].any()  # the 10 oldest can no longer be undone
    hist.redo(lab)
    hist.push(paint(lab, (30, 0, 0), 0, 2))
    assert not hist.can_redo


def test_cancel_stroke_reverts() -> None:
    lab = blank()
    hist = EditHistory()
    hist.begin_stroke()
    hist.push(paint(lab, (4, 4, 4), 2, 1))
    hist.push(paint(lab, (5, 4, 4), 2, 2))
    hist.cancel_stroke(lab)
    assert not lab.any() and len(hist) == 0


def test_diff_memory_is_sparse() -> None:
    lab = np.zeros((64, 64, 64), dtype=np.int16)
    diff = paint(lab, (32, 32, 32), 10, 1)
    assert diff.nbytes == len(diff) * (4 + 2 + 2)
    merged = LabelDiff.merge([diff, paint(lab, (32, 32, 32), 10, 2)])
    assert set(merged.old) == {0} and set(merged.new) == {2}


def test_line_voxels_has_no_gaps() -> None:
    from headtwin_app.core.edit import line_voxels

    pts = line_voxels((0, 0, 5), (4, 2, 5))
    assert pts[0] == (0, 0, 5) and pts[-1] == (4, 2, 5) and len(pts) == 5
    steps = [np.abs(np.subtract(b, a)).max() for a, b in zip(pts[:-1], pts[1:], strict=True)]
    assert steps == [1, 1, 1, 1]
    assert line_voxels((3, 3, 3), (3, 3, 3)) == [(3, 3, 3)]


# --- session (the workspace's logic) -----------------------------------------------------------
def test_session_stroke_fill_undo_and_review() -> None:
    from headtwin_app.core.edit.session import LabellingSession
    from headtwin_app.core.volume import Volume

    img = Volume.from_spacing(np.zeros((20, 20, 5), np.float32))
    proposal = np.zeros(img.shape, np.int16)
    proposal[2:6, 2:6, 2] = 4
    s = LabellingSession(img, proposal=proposal, reference=proposal.copy())
    s.settings.tool, s.settings.label, s.settings.radius = "brush2d", 5, 1
    s.begin_stroke((10, 10, 2), axis=2)
    s.continue_stroke((14, 10, 2))  # the segment is filled without gaps
    s.end_stroke()
    assert (s.labels[9:16, 10, 2] == 5).all() and len(s.history) == 1 and s.dirty
    s.settings.tool = "fill"
    s.begin_stroke((0, 0, 0), axis=2)
    assert (s.labels[:, :, 0] == 5).all() and len(s.history) == 2
    s.undo()
    assert not s.labels[:, :, 0].any()
    s.accept(4)
    assert s.changes()[4] == {"added": 0, "removed": 0}
    scores, mean = s.dice("reference")
    assert scores[4] == 1.0 and scores[5] == 0.0 and mean == 1.0
    s.reject(4)
    assert not (s.labels == 4).any()
    for _ in range(3):
        s.undo()
    assert not s.labels.any()


def test_threshold_paint_on_fortran_ordered_image() -> None:
    lab = blank((5, 5, 1))
    image = np.asfortranarray(np.arange(25, dtype=float).reshape(5, 5, 1))
    paint(lab, (2, 2, 0), 2, 1, axis=2, image=image, threshold=(10, 14))
    np.testing.assert_array_equal(np.flatnonzero(lab), [10, 11, 12, 13, 14])


def test_present_labels_and_c_order_any_layout() -> None:
    from headtwin_app.core.edit.diff import c_order, present_labels

    rng = np.random.default_rng(3)
    a = rng.integers(0, 40, (37, 20, 70)).astype(np.int16)
    a[0, 0, 0] = 300
    f = np.asfortranarray(a)
    for arr in (a, f, f.astype(np.uint8), np.asfortranarray(np.where(a == 300, 7, a))):
        np.testing.assert_array_equal(present_labels(arr), np.unique(arr))
    np.testing.assert_array_equal(present_labels(a - 5), np.unique(a - 5))
    c = c_order(f, np.int16)
    assert c.flags.c_contiguous and np.array_equal(c, a)
    assert c_order(a) is a
