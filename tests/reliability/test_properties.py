"""Property-based checks (hypothesis) of the loaders, the label-map check, strict JSON and the
command-line argument parsing: whatever the input, a clear error or a valid result."""

from __future__ import annotations

import contextlib
import io
import json
import math
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from headtwin_app.cli.main import main
from headtwin_app.cli.output import dumps
from headtwin_app.core.errors import UserError
from headtwin_app.core.io import load_volume, save_volume
from headtwin_app.core.labelmap import label_array
from headtwin_app.core.masks import FAMILY_NAMES
from headtwin_app.core.volume import Volume, VolumeError

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
SUFFIXES = (".nii.gz", ".nii", ".npy", ".mha", ".nrrd", ".h5")
_FOLDER = Path(tempfile.mkdtemp(prefix="headtwin-props-"))
_TRUTH = (np.arange(6 * 7 * 5, dtype=np.float32).reshape(6, 7, 5) % 13) * 3.5


def _original(suffix: str) -> bytes:
    path = _FOLDER / f"original{suffix}"
    if not path.exists():
        save_volume(Volume(_TRUTH, np.diag([1.5, 2.0, 2.5, 1.0])), path)
    return path.read_bytes()


mutation = st.one_of(
    st.tuples(st.just("flip"), st.floats(0, 1), st.integers(0, 7)),
    st.tuples(st.just("truncate"), st.floats(0, 1), st.just(0)),
    st.tuples(st.just("insert"), st.floats(0, 1), st.integers(0, 255)),
)


def _mutate(raw: bytes, how: tuple[str, float, int]) -> bytes:
    kind, where, value = how
    pos = min(int(where * len(raw)), len(raw) - 1)
    data = bytearray(raw)
    if kind == "flip":
        data[pos] ^= 1 << value
    elif kind == "truncate":
        del data[pos:]
    else:
        data.insert(pos, value)
    return bytes(data)


@pytest.mark.parametrize("suffix", SUFFIXES)
@SETTINGS
@given(hows=st.lists(mutation, min_size=1, max_size=3))
def test_damaged_files_load_cleanly_or_fail_with_one_line(suffix: str,
                                                          hows: list[tuple[str, float, int]],
                                                          ) -> None:
    raw = _original(suffix)
    for how in hows:
        raw = _mutate(raw, how) or raw[:1]
    path = _FOLDER / f"damaged{suffix}"
    path.write_bytes(raw)
    try:
        vol = load_volume(path)
    except VolumeError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)
        return
    data = vol.data
    assert data.ndim == 3 and data.size > 0 and data.dtype.kind in "biuf"
    assert np.isfinite(np.asarray(data, dtype=np.float64)).all()
    assert np.isfinite(vol.affine).all() and abs(np.linalg.det(vol.affine[:3, :3])) > 0
    if suffix == ".nii.gz":  # the CRC-32: a damaged stream never loads with other voxels
        assert np.array_equal(data, _TRUTH)


@SETTINGS
@given(arr=hnp.arrays(st.sampled_from([np.float32, np.float64, np.int16, np.int32, np.uint8]),
                      st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(1, 3))))
def test_label_array_accepts_only_whole_known_ids(arr: np.ndarray) -> None:
    try:
        out = label_array(arr, "map.nii.gz")
    except UserError as exc:
        assert "map.nii.gz" in str(exc) and "\n" not in str(exc)
        return
    assert out.shape == arr.shape and out.dtype.kind == "i"
    assert np.array_equal(out.astype(np.float64), arr.astype(np.float64))


json_value = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5)),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=4), inner, max_size=4)),
    max_leaves=20)


@SETTINGS
@given(value=st.dictionaries(st.text(max_size=4), json_value, max_size=5))
def test_json_output_is_always_strict(value: dict) -> None:  # type: ignore[type-arg]
    def refuse(constant: str) -> None:
        raise ValueError(constant)

    back = json.loads(dumps(value), parse_constant=refuse)
    bad = [v for v in _leaves(value) if isinstance(v, float) and not math.isfinite(v)]
    assert bool(bad) == ("null_reasons" in back)


def _leaves(v: object) -> list[object]:
    if isinstance(v, dict):
        return [x for item in v.values() for x in _leaves(item)]
    if isinstance(v, list):
        return [x for item in v for x in _leaves(item)]
    return [v]


token = st.one_of(st.floats().map(repr), st.integers(-10**12, 10**12).map(str),
                  st.text(min_size=0, max_size=6), st.sampled_from(["nan", "inf", "-inf", "1e999",
                                                                     "0", "-0", "0x10", ""]))


def _image_2d() -> Path:
    path = _FOLDER / "slice.nii.gz"
    if not path.exists():
        img = np.zeros((16, 16, 1), np.float32)
        img[4:12, 4:12] = 100.0
        save_volume(Volume(img), path)
    return path


@SETTINGS
@given(mask=st.one_of(st.sampled_from(FAMILY_NAMES), st.text(max_size=6)), accel=token,
       cf=token, seed=token, noise=token, pf=token)
def test_simulate_arguments_give_a_result_or_one_line(mask: str, accel: str, cf: str,
                                                      seed: str, noise: str, pf: str) -> None:
    argv = ["simulate", "--image", str(_image_2d()), "--json", f"--mask={mask}",
            f"--accel={accel}", f"--center-fraction={cf}", f"--seed={seed}", f"--noise={noise}",
            f"--pf-fraction={pf}"]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    assert code in (0, 2), (code, err.getvalue())
    if code == 2:
        assert err.getvalue().startswith("headtwin: error: ")
        assert err.getvalue().count("\n") == 1, err.getvalue()
    else:
        json.loads(out.getvalue(), parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))


COMMANDS = ("info", "convert", "phantom", "simulate", "sweep", "recon", "train-recon",
            "segment", "fuse", "dice", "train-seg", "mesh", "render")


@SETTINGS
@given(command=st.sampled_from(COMMANDS),
       tokens=st.lists(st.one_of(token, st.sampled_from(
           ["--json", "--out", "--image", "--size", "--accel", "--seed", "--iterations",
            "--spacing", "--masks", "--decimate", "--device", "--backend", "--help"])),
           max_size=6))
def test_argument_parsing_never_raises(command: str, tokens: list[str]) -> None:
    from headtwin_app.cli.main import build_parser

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            build_parser().parse_args([command, *tokens])
        except SystemExit as done:
            assert done.code in (0, 2)
            if done.code == 2:
                assert err.getvalue().count("\n") == 1, err.getvalue()
