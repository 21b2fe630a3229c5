"""A corpus of bad and edge inputs for every `headtwin` command, generated at test time.

`build_corpus(root)` writes the files into `root` and returns the cases: an argument list, what
must happen ("error": one line `headtwin: error: ...`, exit 2, naming `mentions`; "ok": exit 0
with strict JSON on stdout), and for a few cases an extra check ("same": a damaged file may only
load when its voxels are exactly the original's; "marker": no code from the input may run).
Used by tests/reliability/test_corpus.py (in-process) and benchmarks/bench_reliability.py
(every case in its own process, with a timeout).
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np

MARKER = "CODE_RAN"  # a malicious input tries to create this file next to itself
PROGRESS = re.compile(r"^\[\w+ +[\d.]+%\] ")  # a progress line of train-seg


@dataclass
class Case:
    name: str
    argv: list[str]
    expect: str  # "error" or "ok"
    mentions: str = ""  # the error line must contain this (the file or the argument)
    check: str = ""  # "same:<npy of the true voxels>" or "marker:<path that must not appear>"
    tags: list[str] = field(default_factory=list)


# --- files ---------------------------------------------------------------------------------------
def _image(shape=(16, 16, 10), seed=0) -> np.ndarray:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    x = np.zeros(shape, np.float32)
    c = np.array(shape) / 2
    idx = np.indices(shape).astype(np.float32)
    r = np.sqrt(sum((idx[i] - c[i]) ** 2 for i in range(3)))
    x[r < min(shape) / 2.5] = 100.0
    return x + rng.normal(0, 2, shape).astype(np.float32) + 10


def _labels(shape=(16, 16, 10)) -> np.ndarray:  # type: ignore[no-untyped-def]
    lab = np.zeros(shape, np.int16)
    lab[2:6, 3:8, 2:6] = 1
    lab[7:11, 4:10, 3:8] = 5
    lab[4:8, 9:13, 5:9] = 8
    return lab


def _nii(path: Path, data: np.ndarray, affine=None, dtype=None) -> Path:  # type: ignore[no-untyped-def]
    img = nib.Nifti1Image(data if dtype is None else data.astype(dtype),
                          np.diag([2.0, 2.0, 2.0, 1.0]) if affine is None else affine)
    nib.save(img, str(path))
    return path


def _flip(src: Path, dst: Path, byte: int, bit: int) -> Path:
    raw = bytearray(src.read_bytes())
    raw[byte] ^= 1 << bit
    dst.write_bytes(bytes(raw))
    return dst


def _gzip_bomb(path: Path) -> Path:
    """A 4³ NIfTI followed by 400 MB of zeros, gzipped to well under a megabyte."""
    import zlib

    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    header = nib.Nifti1Image(np.zeros((4, 4, 4), np.float32), np.eye(4)).to_bytes()
    zeros = bytes(10**7)
    parts = [packer.compress(header), *(packer.compress(zeros) for _ in range(40)),
             packer.flush()]
    path.write_bytes(b"".join(parts))
    return path


def _malicious_pickle(path: Path, marker: Path) -> Path:
    """A torch file whose unpickling would run `touch MARKER` (refused by weights_only)."""
    import torch

    class Evil:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (os.system, (f"touch {marker}",))

    torch.save({"format": "headtwin-recon-cascade", "config": {}, "state_dict": Evil()}, path)
    return path


def _dicom(path: Path, short: bool = False, no_pixels: bool = False) -> Path:
    import pydicom
    from pydicom.data import get_testdata_file

    ds = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    if no_pixels:
        del ds.PixelData
    elif short:
        ds.PixelData = ds.PixelData[: len(ds.PixelData) // 3]
    ds.save_as(str(path))
    return path


def make_files(root: Path) -> dict[str, Path]:  # noqa: PLR0915 - one place lists every file
    """Write every input file of the corpus into `root`; returns name → path."""
    import SimpleITK as sitk
    import torch

    root.mkdir(parents=True, exist_ok=True)
    f: dict[str, Path] = {}
    img, lab = _image(), _labels()
    f["image"] = _nii(root / "image.nii.gz", img)
    f["image_npy"] = root / "image_truth.npy"
    np.save(f["image_npy"], img)
    f["labels"] = _nii(root / "labels.nii.gz", lab)
    f["labels_other_grid"] = _nii(root / "labels_shifted.nii.gz", lab,
                                  np.array([[2.0, 0, 0, 5], [0, 2, 0, 0], [0, 0, 2, 0],
                                            [0, 0, 0, 1]]))
    f["labels_other_shape"] = _nii(root / "labels_small.nii.gz", lab[:, :, :8])
    f["labels_float"] = _nii(root / "labels_float.nii.gz",
                             np.where(lab > 0, lab + 0.3, 0).astype(np.float32))
    f["labels_unknown"] = _nii(root / "labels_unknown.nii.gz", np.where(lab == 5, 99, lab),
                               dtype=np.int16)
    f["labels_negative"] = _nii(root / "labels_negative.nii.gz", np.where(lab == 5, -2, lab),
                                dtype=np.int16)
    f["labels_huge_id"] = _nii(root / "labels_huge_id.nii.gz",
                               np.where(lab == 5, 70000, lab.astype(np.int32)), dtype=np.int32)
    f["labels_nan"] = _nii(root / "labels_nan.nii.gz",
                           np.where(lab == 5, np.nan, lab).astype(np.float32))
    f["labels_empty"] = _nii(root / "labels_zero.nii.gz", np.zeros_like(lab))
    f["brain_tissue_in_cf"] = _nii(root / "cf_with_tissue.nii.gz", np.where(lab == 5, 22, lab),
                                   dtype=np.int16)
    # brain folders for fuse
    good_brain = root / "brain_ok"
    good_brain.mkdir(exist_ok=True)
    tissue = np.zeros_like(lab)
    tissue[3:9, 3:9, 6:10] = 22
    _nii(good_brain / "brain_tissue.nii.gz", tissue)
    f["brain_ok"] = good_brain
    bad_brain = root / "brain_craniofacial_ids"
    bad_brain.mkdir(exist_ok=True)
    _nii(bad_brain / "brain_tissue.nii.gz", np.where(tissue > 0, 4, 0).astype(np.int16))
    f["brain_bad_ids"] = bad_brain
    shape_brain = root / "brain_other_shape"
    shape_brain.mkdir(exist_ok=True)
    _nii(shape_brain / "brain_tissue.nii.gz", tissue[:, :, :8])
    f["brain_bad_shape"] = shape_brain
    f["brain_empty_dir"] = root / "brain_none"
    f["brain_empty_dir"].mkdir(exist_ok=True)

    # broken images
    f["missing"] = root / "missing.nii.gz"
    for suffix in (".nii.gz", ".nii", ".mha", ".nrrd", ".npy", ".h5", ".dcm"):
        name = "empty" + suffix
        (root / name).write_bytes(b"")
        f[name] = root / name
        junk = "junk" + suffix
        (root / junk).write_bytes(os.urandom(3000))
        f[junk] = root / junk
    f["unknown_suffix"] = root / "image.xyz"
    f["unknown_suffix"].write_bytes(b"hello")
    good = f["image"].read_bytes()
    (root / "truncated.nii.gz").write_bytes(good[: len(good) // 2])
    f["truncated.nii.gz"] = root / "truncated.nii.gz"
    f["gzip_of_text.nii.gz"] = root / "gzip_of_text.nii.gz"
    f["gzip_of_text.nii.gz"].write_bytes(gzip.compress(b"not a nifti header " * 40))
    raw_nii = _nii(root / "raw.nii", img)
    (root / "truncated.nii").write_bytes(raw_nii.read_bytes()[:-500])
    f["truncated.nii"] = root / "truncated.nii"
    (root / "trailing_garbage.nii.gz").write_bytes(good + b"garbage after the stream")
    f["trailing_garbage.nii.gz"] = root / "trailing_garbage.nii.gz"
    f["gzip_bomb.nii.gz"] = _gzip_bomb(root / "gzip_bomb.nii.gz")
    # single-bit flips spread over the compressed stream and its trailer
    n = len(good)
    for k, pos in enumerate(np.linspace(12, n - 1, 12).astype(int)):
        f[f"flip{k}"] = _flip(f["image"], root / f"flip{k}.nii.gz", int(pos), k % 8)
    bad_aff = np.diag([2.0, 2.0, 2.0, 1.0])
    bad_aff[0, 3] = np.nan
    f["nan_affine"] = _nii(root / "nan_affine.nii.gz", img, bad_aff)
    zero = nib.Nifti1Image(img, np.diag([2.0, 2.0, 2.0, 1.0]))
    zero.set_qform(None, code=0)
    raw = bytearray(zero.to_bytes())
    raw[280:296] = np.zeros(4, "<f4").tobytes()  # srow_x = 0: the first voxel axis has no size
    (root / "zero_spacing.nii.gz").write_bytes(gzip.compress(bytes(raw)))
    f["zero_spacing"] = root / "zero_spacing.nii.gz"
    f["nan_voxels"] = _nii(root / "nan_voxels.nii.gz", np.where(img > 50, np.nan, img))
    f["inf_voxels"] = _nii(root / "inf_voxels.nii.gz", np.where(img > 50, np.inf, img))
    rgb = np.zeros((8, 8, 4), dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    f["rgb"] = _nii(root / "rgb.nii.gz", rgb)
    f["complex_nii"] = _nii(root / "complex.nii.gz", img.astype(np.complex64))
    f["4d"] = _nii(root / "fourd.nii.gz", np.stack([img, img], axis=-1))
    f["1d"] = _nii(root / "oned.nii.gz", img[:, 0, 0].copy())
    hdr = nib.Nifti1Image(np.zeros((2, 2, 2), np.float32), np.eye(4))
    hdr.header.set_data_shape((30000, 30000, 30000))
    (root / "huge_header.nii").write_bytes(hdr.header.binaryblock + b"\0" * 4 + b"\0" * 64)
    f["huge_header"] = root / "huge_header.nii"
    np.save(root / "structured.npy", np.zeros(5, dtype=[("a", "i4"), ("b", "f4")]))
    f["structured.npy"] = root / "structured.npy"
    np.save(root / "objects.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    f["objects.npy"] = root / "objects.npy"
    np.save(root / "strings.npy", np.array([["ab", "cd"], ["ef", "gh"]]))
    f["strings.npy"] = root / "strings.npy"
    np.save(root / "scalar.npy", np.float32(3))
    f["scalar.npy"] = root / "scalar.npy"
    np.save(root / "five_d.npy", np.zeros((3, 3, 3, 2, 2), np.float32))
    f["five_d.npy"] = root / "five_d.npy"
    (root / "short.npy").write_bytes((root / "image_truth.npy").read_bytes()[:-700])
    f["short.npy"] = root / "short.npy"
    # ITK formats
    vec = sitk.Image([6, 6, 4], sitk.sitkVectorFloat32, 3)
    sitk.WriteImage(vec, str(root / "vector.mha"))
    f["vector.mha"] = root / "vector.mha"
    sitk.WriteImage(sitk.GetImageFromArray(img.transpose(2, 1, 0)), str(root / "gz.nrrd"), True)
    (root / "huge_dims.mha").write_text("ObjectType = Image\nNDims = 3\nDimSize = 100000 100000 "
                                        "100000\nElementType = MET_FLOAT\nElementDataFile = "
                                        "LOCAL\n")
    with open(root / "huge_dims.mha", "ab") as fh:
        fh.write(b"\0" * 64)
    f["huge_dims.mha"] = root / "huge_dims.mha"
    (root / "no_raw.mhd").write_text("ObjectType = Image\nNDims = 3\nDimSize = 4 4 4\n"
                                     "ElementType = MET_FLOAT\nElementDataFile = missing.raw\n")
    f["no_raw.mhd"] = root / "no_raw.mhd"
    compressed = root / "compressed.mha"
    sitk.WriteImage(sitk.GetImageFromArray(img.transpose(2, 1, 0)), str(compressed), True)
    raw = bytearray(compressed.read_bytes())
    raw[len(raw) - 40] ^= 0x10
    (root / "flip.mha").write_bytes(bytes(raw))
    f["flip.mha"] = root / "flip.mha"
    raw = bytearray((root / "gz.nrrd").read_bytes())
    raw[len(raw) - 40] ^= 0x10
    (root / "flip.nrrd").write_bytes(bytes(raw))
    f["flip.nrrd"] = root / "flip.nrrd"
    # DICOM
    f["dicom_short"] = _dicom(root / "short_pixels.dcm", short=True)
    f["dicom_nopixels"] = _dicom(root / "no_pixels.dcm", no_pixels=True)
    f["dicom_ok"] = _dicom(root / "mr_small.dcm")
    series = root / "series_bad"
    series.mkdir(exist_ok=True)
    from headtwin_app.core.io import save_volume
    from headtwin_app.core.volume import Volume

    save_volume(Volume(img, np.diag([2.0, 2.0, 2.0, 1.0])), series)
    slices = sorted(series.glob("*.dcm"))
    slices[3].write_bytes(slices[3].read_bytes()[:-300])
    f["series_bad"] = series
    f["empty_folder"] = root / "empty_folder"
    f["empty_folder"].mkdir(exist_ok=True)
    # HDF5
    import h5py

    with h5py.File(root / "no_kspace.h5", "w") as h:
        h.create_dataset("image", data=img)
    f["no_kspace.h5"] = root / "no_kspace.h5"
    with h5py.File(root / "real_kspace.h5", "w") as h:
        h.create_dataset("kspace", data=img)
    f["real_kspace.h5"] = root / "real_kspace.h5"
    with h5py.File(root / "nan_kspace.h5", "w") as h:
        k = np.fft.fft2(img.transpose(2, 1, 0)).astype(np.complex64)
        k[0, 0, 0] = np.nan
        h.create_dataset("kspace", data=k)
    f["nan_kspace.h5"] = root / "nan_kspace.h5"
    with h5py.File(root / "kspace_1d.h5", "w") as h:
        h.create_dataset("kspace", data=np.ones(16, np.complex64))
    f["kspace_1d.h5"] = root / "kspace_1d.h5"
    # special paths
    f["long_name"] = root / ("x" * 300 + ".nii.gz")
    fifo = root / "fifo.nii.gz"
    if not fifo.exists():
        os.mkfifo(fifo)
    f["fifo"] = fifo
    f["devzero"] = Path("/dev/zero")
    loop = root / "loop.nii.gz"
    if not loop.is_symlink():
        loop.symlink_to(loop.name)
    f["symlink_loop"] = loop
    f["a_file"] = root / "a_file.txt"
    f["a_file"].write_text("I am a file, not a folder\n")
    # weights and configs
    marker = root / MARKER
    f["marker"] = marker
    f["evil.pt"] = _malicious_pickle(root / "evil.pt", marker)
    (root / "garbage.pt").write_bytes(os.urandom(2000))
    f["garbage.pt"] = root / "garbage.pt"
    from headtwin_app.core.recon.cascade import CascadeConfig, CascadeNet
    from headtwin_app.core.recon.predict import save_checkpoint

    tiny = save_checkpoint(CascadeNet(CascadeConfig(1, 2, 4)), root / "tiny_cascade.pt")
    f["tiny_cascade.pt"] = tiny
    bomb = torch.load(tiny, weights_only=True)
    bomb["config"].update(n_cascades=10**6, width=10**4)
    torch.save(bomb, root / "bomb.pt")
    f["bomb.pt"] = root / "bomb.pt"
    bomb["config"].update(n_cascades=3, width=64)  # in bounds, but the file holds far fewer
    torch.save(bomb, root / "mismatch.pt")
    f["mismatch.pt"] = root / "mismatch.pt"
    torch.save([1, 2, 3], root / "list.pt")
    f["list.pt"] = root / "list.pt"
    seg_bomb = {"state_dict": {}, "config": {"base": 10**6, "depth": 50, "patch": 64,
                                             "spacing_mm": 2.0}, "label_ids": [1, 2]}
    torch.save(seg_bomb, root / "seg_bomb.pt")
    f["seg_bomb.pt"] = root / "seg_bomb.pt"
    # the shipped coarse model with a malicious fine stage beside it (MODEL.refine.pt)
    shipped = Path(__file__).resolve().parents[2] / "models" / "seg_builtin.pt"
    (root / "evil_refine").mkdir(exist_ok=True)
    shutil.copyfile(shipped, root / "evil_refine" / "seg.pt")
    _malicious_pickle(root / "evil_refine" / "seg.refine.pt", marker)
    f["evil_refine"] = root / "evil_refine" / "seg.pt"
    configs = {"cfg_list.json": "[1, 2]", "cfg_number.json": "3", "cfg_null.json": "null",
               "cfg_string.json": '"steps"', "cfg_bad_json.json": "{steps: 3",
               "cfg_unknown.json": '{"stepz": 3}', "cfg_type.json": '{"steps": "ten"}',
               "cfg_bool.json": '{"steps": true}', "cfg_neg.json": '{"lr": -1}',
               "cfg_families.json": '{"families": []}',
               "cfg_bomb.json": '{"model": {"n_cascades": 1000000, "width": 10000}}',
               "cfg_nan.json": '{"lr": NaN}', "cfg_model_type.json": '{"model": [1]}'}
    for name, text in configs.items():
        (root / name).write_text(text)
        f[name] = root / name
    # nnU-Net model folders that try to run code
    f["nnunet_evil_ckpt"] = _nnunet_folder(root / "nnunet_evil_ckpt", marker, evil_ckpt=True)
    f["nnunet_evil_plans"] = _nnunet_folder(root / "nnunet_evil_plans", marker, evil_ckpt=False)
    # training cases
    cases = root / "cases"
    for name, labels in (("ok", lab), ("float", np.where(lab > 0, lab + 0.5, 0))):
        d = cases / name if name == "ok" else root / "cases_float" / name
        d.mkdir(parents=True, exist_ok=True)
        _nii(d / "image.nii.gz", img)
        _nii(d / "labels.nii.gz", labels.astype(np.float32))
    f["cases"] = cases
    f["cases_float"] = root / "cases_float"
    f["cases_empty"] = root / "cases_none"
    f["cases_empty"].mkdir(exist_ok=True)
    # an existing folder with other files (a DICOM series must not replace it)
    other = root / "other_folder"
    other.mkdir(exist_ok=True)
    (other / "notes.txt").write_text("keep me")
    f["other_folder"] = other
    f["out"] = root / "out"
    f["out"].mkdir(exist_ok=True)
    return f


def _nnunet_folder(folder: Path, marker: Path, evil_ckpt: bool) -> Path:
    """A trained-model folder (plans.json, dataset.json, fold_all/checkpoint_final.pth) whose
    checkpoint pickle or whose plans try to run code."""
    import torch

    (folder / "fold_all").mkdir(parents=True, exist_ok=True)
    plans = {"dataset_name": "Dataset501_HeadTwin", "plans_name": "nnUNetPlans",
             "configurations": {"3d_fullres": {"architecture": {
                 "network_class_name": "dynamic_network_architectures.architectures.unet."
                                       "PlainConvUNet",
                 "arch_kwargs": {"n_stages": 2, "features_per_stage": [4, 8],
                                 "conv_op": "torch.nn.modules.conv.Conv3d"},
                 "_kw_requires_import": ["conv_op"]}}}}
    if not evil_ckpt:
        arch = plans["configurations"]["3d_fullres"]["architecture"]  # type: ignore[index]
        arch["arch_kwargs"]["conv_op"] = "antigravity.fly"
        arch["network_class_name"] = "os.system"
    (folder / "plans.json").write_text(json.dumps(plans))
    (folder / "dataset.json").write_text(json.dumps({"labels": {"background": 0, "skull": 1},
                                                     "channel_names": {"0": "MR"},
                                                     "file_ending": ".nii.gz"}))
    ck = folder / "fold_all" / "checkpoint_final.pth"
    if evil_ckpt:
        _malicious_pickle(ck, marker)
    else:
        torch.save({"network_weights": {}, "init_args": {"configuration": "3d_fullres"},
                    "trainer_name": "nnUNetTrainer"}, ck)
    return folder


def cleanup_outputs(root: Path) -> None:
    """Empty the shared output folder between cases."""
    out = root / "out"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(exist_ok=True)


BAD_IMAGES = {  # file key → what the error line must mention
    "missing": "missing.nii.gz", "empty.nii.gz": "empty.nii.gz", "empty.nii": "empty.nii",
    "empty.mha": "empty.mha", "empty.nrrd": "empty.nrrd", "empty.npy": "empty.npy",
    "empty.h5": "empty.h5", "empty.dcm": "empty.dcm", "junk.nii.gz": "junk.nii.gz",
    "junk.nii": "junk.nii", "junk.mha": "junk.mha", "junk.nrrd": "junk.nrrd",
    "junk.npy": "junk.npy", "junk.h5": "junk.h5", "junk.dcm": "junk.dcm",
    "unknown_suffix": "image.xyz", "truncated.nii.gz": "truncated.nii.gz",
    "gzip_of_text.nii.gz": "gzip_of_text", "truncated.nii": "truncated.nii",
    "trailing_garbage.nii.gz": "trailing_garbage", "gzip_bomb.nii.gz": "gzip_bomb",
    "nan_affine": "nan_affine",
    "zero_spacing": "zero_spacing", "nan_voxels": "nan_voxels", "inf_voxels": "inf_voxels",
    "rgb": "rgb.nii.gz", "complex_nii": "complex.nii.gz", "4d": "fourd.nii.gz",
    "1d": "oned.nii.gz", "huge_header": "huge_header.nii", "structured.npy": "structured.npy",
    "objects.npy": "objects.npy", "strings.npy": "strings.npy", "scalar.npy": "scalar.npy",
    "five_d.npy": "five_d.npy", "short.npy": "short.npy", "vector.mha": "vector.mha",
    "huge_dims.mha": "huge_dims.mha", "no_raw.mhd": "no_raw.mhd", "flip.mha": "flip.mha",
    "flip.nrrd": "flip.nrrd", "dicom_short": "short_pixels.dcm",
    "dicom_nopixels": "no_pixels.dcm", "series_bad": "series_bad",
    "empty_folder": "empty_folder", "no_kspace.h5": "no_kspace.h5",
    "real_kspace.h5": "real_kspace.h5", "nan_kspace.h5": "nan_kspace.h5",
    "kspace_1d.h5": "kspace_1d.h5", "long_name": "xxxxxxxxxx", "fifo": "fifo.nii.gz",
    "devzero": "/dev/zero", "symlink_loop": "loop.nii.gz",
}
BAD_LABELS = {"labels_float": "not whole numbers", "labels_unknown": "99",
              "labels_negative": "negative", "labels_huge_id": "70000",
              "labels_nan": "labels_nan", "labels_empty": "no structures"}


def _junk(path: Path) -> Path:
    path.write_bytes(b"NRRD0004\ntype: uchar\ndimension: 3\nsizes: 9 9\n\n" + os.urandom(50))
    return path


def _slug(flags: list) -> str:  # type: ignore[type-arg]
    return "_".join(Path(str(x)).name.removeprefix("--") for x in flags)[:60]


def build_corpus(root: Path) -> list[Case]:  # noqa: PLR0915 - one list of every case
    """Write the corpus files into `root` and return every case."""
    f = make_files(root)
    o = f["out"]
    img, lab, marker = f["image"], f["labels"], f["marker"]
    cases: list[Case] = []

    def err(name: str, argv: list, mentions: str, **kw: object) -> None:  # type: ignore[type-arg]
        cases.append(Case(name, [str(a) for a in argv], "error", mentions, **kw))  # type: ignore[arg-type]

    def ok(name: str, argv: list, **kw: object) -> None:  # type: ignore[type-arg]
        cases.append(Case(name, [str(a) for a in argv], "ok", **kw))  # type: ignore[arg-type]

    # every bad image through the readers of several commands
    for key, mention in BAD_IMAGES.items():
        err(f"info/{key}", ["info", "--image", f[key], "--json"], mention)
    for key in ("truncated.nii.gz", "nan_affine", "rgb", "series_bad", "dicom_short",
                "huge_header", "structured.npy", "fifo", "long_name", "flip.mha"):
        m = BAD_IMAGES[key]
        err(f"convert/{key}", ["convert", "--image", f[key], "--out", o / "c.nii.gz"], m)
        err(f"simulate/{key}", ["simulate", "--image", f[key], "--mask", "cartesian",
                                "--accel", "4"], m)
        err(f"recon/{key}", ["recon", "--image", f[key], "--mask", "cartesian", "--method",
                             "zf"], m)
        err(f"segment/{key}", ["segment", "--image", f[key], "--out", o / "s.nii.gz",
                               "--no-refine"], m)
    truth = f["image_npy"]
    for k in range(12):
        cases.append(Case(f"convert/bitflip{k}", ["convert", "--image", str(f[f"flip{k}"]),
                                                   "--out", str(o / "flip.npy")], "error",
                          f"flip{k}", check=f"same:{truth}"))
    # label maps
    for key, mention in BAD_LABELS.items():
        err(f"mesh/{key}", ["mesh", "--labels", f[key], "--out", o / "m"], mention)
        err(f"render/{key}", ["render", "--labels", f[key], "--out", o / "r.png"], mention)
        if key != "labels_empty":
            err(f"dice/{key}", ["dice", "--reference", lab, "--prediction", f[key]], mention)
    err("dice/other_shape", ["dice", "--reference", lab, "--prediction",
                             f["labels_other_shape"]], "one voxel grid")
    err("dice/other_affine", ["dice", "--reference", lab, "--prediction",
                              f["labels_other_grid"]], "one voxel grid")
    err("render/image_other_grid", ["render", "--labels", lab, "--image", f["labels_other_grid"],
                                    "--out", o / "r.png"], "one voxel grid")
    err("fuse/brain_has_cf_ids", ["fuse", "--craniofacial", lab, "--brain-dir",
                                  f["brain_bad_ids"], "--out", o / "t.nii.gz"], "brain tissue")
    err("fuse/cf_has_brain_ids", ["fuse", "--craniofacial", f["brain_tissue_in_cf"],
                                  "--brain-dir", f["brain_ok"], "--out", o / "t.nii.gz"], "22")
    err("fuse/brain_other_shape", ["fuse", "--craniofacial", lab, "--brain-dir",
                                   f["brain_bad_shape"], "--out", o / "t.nii.gz"], "grid")
    err("fuse/no_brain_files", ["fuse", "--craniofacial", lab, "--brain-dir",
                                f["brain_empty_dir"], "--out", o / "t.nii.gz"], "brain_none")
    err("fuse/missing_dir", ["fuse", "--craniofacial", lab, "--brain-dir", root / "nope",
                             "--out", o / "t.nii.gz"], "nope")
    err("fuse/float_cf", ["fuse", "--craniofacial", f["labels_float"], "--brain-dir",
                          f["brain_ok"], "--out", o / "t.nii.gz"], "whole numbers")

    # arguments: simulate / sweep
    sim = ["simulate", "--image", img, "--json"]
    for flags, mention in (
        (["--mask", "cartesian", "--accel", "0"], "--accel"),
        (["--mask", "cartesian", "--accel", "-1"], "--accel"),
        (["--mask", "cartesian", "--accel", "nan"], "--accel"),
        (["--mask", "cartesian", "--accel", "inf"], "--accel"),
        (["--mask", "cartesian", "--accel", "1e9"], "--accel"),
        (["--mask", "cartesian", "--accel", "four"], "--accel"),
        (["--mask", "nope", "--accel", "4"], "nope"),
        (["--mask", "random_line", "--accel", "4", "--center-fraction", "1"], "centre"),
        (["--mask", "cartesian", "--accel", "4", "--center-fraction", "0.9"], "centre"),
        (["--mask", "random_points", "--accel", "8", "--center-fraction", "0.9"], "centre"),
        (["--mask", "cartesian", "--accel", "4", "--center-fraction", "-0.1"],
         "--center-fraction"),
        (["--mask", "cartesian", "--accel", "4", "--center-fraction", "2"],
         "--center-fraction"),
        (["--mask", "cartesian", "--accel", "4", "--center-fraction", "nan"],
         "--center-fraction"),
        (["--mask", "partial_fourier", "--accel", "1.5", "--pf-fraction", "0.2"],
         "--pf-fraction"),
        (["--mask", "cartesian", "--accel", "4", "--noise", "-1"], "--noise"),
        (["--mask", "cartesian", "--accel", "4", "--noise", "nan"], "--noise"),
        (["--mask", "cartesian", "--accel", "4", "--tr", "0"], "--tr"),
        (["--mask", "cartesian", "--accel", "4", "--slice", "-1"], "--slice"),
        (["--mask", "cartesian", "--accel", "4", "--dims", "2", "--slice", "999"], "--slice"),
        (["--mask", "cartesian", "--accel", "4", "--dims", "4"], "--dims"),
        (["--mask", "cartesian", "--accel", "4", "--seed", "-1"], "--seed"),
        (["--mask", "cartesian", "--accel", "4", "--seed", "1e30"], "--seed"),
        (["--mask", "cartesian", "--accel", "4", "--combine-with", "nope"], "nope"),
        (["--mask", "cartesian", "--accel", "4", "--out", f["a_file"]], "a_file.txt"),
        (["--mask", "cartesian", "--accel", "4", "--out", f["a_file"] / "sub"], "a_file.txt"),
        (["--mask", "upper_half", "--accel", "4"], "upper_half"),
        (["--accel", "4"], "--mask"),
        (["--mask", "cartesian", "--accel", "4", "--bogus"], "--bogus"),
    ):
        err(f"simulate/{_slug(flags)}", sim + flags, mention)
    sweep = ["sweep", "--image", img, "--json"]
    for flags, mention in (
        (["--masks", ","], "--masks"), (["--masks", ""], "--masks"),
        (["--masks", "nope"], "nope"), (["--accels", ""], "--accels"),
        (["--accels", "a,b"], "--accels"), (["--accels", "0.5"], "0.5"),
        (["--accels", "nan"], "nan"), (["--masks", "cartesian", "--csv", o / "s.txt"], "s.txt"),
        (["--masks", "cartesian", "--plot", o / "s.gif"], "s.gif"),
        (["--masks", "cartesian", "--csv", f["a_file"] / "s.csv"], "a_file.txt"),
    ):
        err(f"sweep/{_slug(flags)}", sweep + flags, mention)

    # recon / train-recon
    rec = ["recon", "--image", img, "--mask", "cartesian", "--accel", "4"]
    for flags, mention in (
        (["--method", "bogus"], "--method"), (["--batch-size", "0"], "--batch-size"),
        (["--threads", "0"], "--threads"), (["--device", "cuda"], "cuda"),
        (["--model", root / "none.pt"], "none.pt"), (["--model", f["garbage.pt"]], "garbage.pt"),
        (["--model", f["evil.pt"]], "refused"), (["--model", f["bomb.pt"]], "bomb.pt"),
        (["--model", f["mismatch.pt"]], "mismatch.pt"), (["--model", f["list.pt"]], "list.pt"),
        (["--model", f["seg_bomb.pt"]], "seg_bomb.pt"),
        (["--method", "zf", "--model", f["tiny_cascade.pt"]], "--model"),
        (["--method", "zf", "--out", img], "destroy"),
        (["--method", "zf", "--out", o / "r.txt"], "r.txt"),
        (["--method", "zf", "--out", f["a_file"] / "r.nii.gz"], "a_file.txt"),
        (["--method", "zf", "--out", o / ("y" * 300 + ".nii.gz")], "too long"),
    ):
        err(f"recon/{_slug(flags)}", rec + flags, mention,
            check=f"marker:{marker}")
    err("recon/kspace_not_h5", ["recon", "--kspace", img, "--method", "zf"], "image.nii.gz")
    err("recon/kspace_real", ["recon", "--kspace", f["real_kspace.h5"], "--method", "zf"],
        "real_kspace.h5")
    err("recon/no_mask", ["recon", "--image", img, "--method", "zf"], "--mask")
    tr = ["train-recon", "--out", o / "c.pt"]
    for key in ("cfg_list.json", "cfg_number.json", "cfg_null.json", "cfg_string.json",
                "cfg_bad_json.json", "cfg_unknown.json", "cfg_type.json", "cfg_bool.json",
                "cfg_neg.json", "cfg_families.json", "cfg_bomb.json", "cfg_nan.json",
                "cfg_model_type.json"):
        err(f"train-recon/{key}", tr + ["--config", f[key]], key)
    (root / "cfg_evil_init.json").write_text(json.dumps({"init_from": str(f["evil.pt"])}))
    err("train-recon/evil_init_from", tr + ["--config", root / "cfg_evil_init.json",
                                            "--steps", "1"], "refused", check=f"marker:{marker}")
    err("train-recon/missing_config", tr + ["--config", root / "none.json"], "none.json")
    err("train-recon/steps0", tr + ["--steps", "0"], "--steps")
    err("train-recon/minutes0", tr + ["--max-minutes", "0"], "--max-minutes")
    err("train-recon/minutes_nan", tr + ["--max-minutes", "nan"], "--max-minutes")
    err("train-recon/out_txt", ["train-recon", "--out", o / "c.txt"], "c.txt")
    err("train-recon/out_through_file", ["train-recon", "--out", f["a_file"] / "c.pt"],
        "a_file.txt")
    err("train-recon/cuda", tr + ["--device", "cuda"], "cuda")

    # segment / train-seg
    seg = ["segment", "--image", img, "--out", o / "s.nii.gz"]
    const = _nii(root / "constant.nii.gz", np.zeros((16, 16, 10), np.float32))
    for flags, mention in (
        (["--device", "cuda"], "cuda"), (["--device", "tpu"], "tpu"),
        (["--backend", "magic"], "--backend"), (["--model", f["garbage.pt"]], "garbage.pt"),
        (["--model", f["evil.pt"]], "refused"), (["--model", f["seg_bomb.pt"]], "seg_bomb.pt"),
        (["--model", f["evil_refine"]], "seg.refine.pt"),
        (["--model", f["tiny_cascade.pt"]], "tiny_cascade.pt"),
        (["--backend", "nnunet"], "--model"),
        (["--backend", "nnunet", "--model", root / "none"], "none"),
        (["--backend", "nnunet", "--model", f["nnunet_evil_ckpt"]], "refused"),
        (["--backend", "nnunet", "--model", f["nnunet_evil_plans"]], "allowed"),
    ):
        err(f"segment/{_slug(flags)}", seg + flags, mention,
            check=f"marker:{marker}")
    err("segment/out_is_image", ["segment", "--image", img, "--out", img], "destroy")
    err("segment/out_txt", ["segment", "--image", img, "--out", o / "s.txt"], "s.txt")
    err("segment/out_through_file", ["segment", "--image", img, "--out",
                                     f["a_file"] / "s.nii.gz"], "a_file.txt")
    err("segment/constant_image", ["segment", "--image", const, "--out", o / "s.nii.gz"],
        "constant")
    err("segment/atlas_out_is_image", ["segment", "--backend", "atlas", "--image", img,
                                       "--out", img], "destroy")
    ts = ["train-seg", "--cases", f["cases"], "--out", o / "m.pt"]
    for flags, mention in (
        (["--iterations", "-3"], "--iterations"), (["--iterations", "0"], "--iterations"),
        (["--epochs", "0"], "--epochs"), (["--minutes", "0"], "--minutes"),
        (["--lr", "0"], "--lr"), (["--lr", "-1"], "--lr"), (["--spacing", "0"], "--spacing"),
        (["--spacing", "100"], "--spacing"), (["--fold", "9"], "--fold"),
        (["--backend", "atlas"], "--backend"), (["--init-from", f["garbage.pt"]], "garbage.pt"),
        (["--init-from", f["evil.pt"]], "refused"), (["--init-from", f["tiny_cascade.pt"]],
                                                     "tiny_cascade.pt"),
        (["--device", "cuda"], "cuda"), (["--refine", "--backend", "nnunet"], "--refine"),
    ):
        err(f"train-seg/{_slug(flags)}", ts + flags,
            mention, check=f"marker:{marker}")
    err("train-seg/out_txt", ["train-seg", "--cases", f["cases"], "--out", o / "m.txt"],
        "m.txt")
    err("train-seg/out_through_file", ["train-seg", "--cases", f["cases"], "--out",
                                       f["a_file"] / "m.pt"], "a_file.txt")
    err("train-seg/cases_missing", ["train-seg", "--cases", root / "nope", "--out",
                                    o / "m.pt"], "nope")
    err("train-seg/cases_empty", ["train-seg", "--cases", f["cases_empty"], "--out",
                                  o / "m.pt"], "cases_none")
    err("train-seg/cases_float_labels", ["train-seg", "--cases", f["cases_float"], "--out",
                                         o / "m.pt", "--iterations", "1"], "whole numbers")
    err("train-seg/nnunet_trainer", ["train-seg", "--backend", "nnunet", "--cases", f["cases"],
                                     "--out", o / "nn", "--trainer", "nope"], "nope")

    # mesh / render
    for flags, mention in (
        (["--smooth", "-1"], "--smooth"), (["--smooth", "abc"], "--smooth"),
        (["--decimate", "1"], "--decimate"), (["--decimate", "-0.1"], "--decimate"),
        (["--decimate", "nan"], "--decimate"), (["--format", "fbx"], "--format"),
    ):
        err(f"mesh/{_slug(flags)}", ["mesh", "--labels", lab, "--out", o / "m",
                                                   *flags], mention)
    err("mesh/out_is_file", ["mesh", "--labels", lab, "--out", f["a_file"]], "a_file.txt")
    err("mesh/out_through_file", ["mesh", "--labels", lab, "--out", f["a_file"] / "m"],
        "a_file.txt")
    ren = ["render", "--labels", lab]
    for flags, mention in (
        (["--size", "-10", "10"], "--size"), (["--size", "0", "0"], "--size"),
        (["--size", "100000", "100000"], "--size"), (["--size", "abc", "10"], "--size"),
        (["--view", "sideways"], "--view"),
    ):
        err(f"render/{_slug(flags)}", ren + ["--out", o / "r.png", *flags],
            mention)
    err("render/out_gif", ren + ["--out", o / "r.gif"], "r.gif")
    err("render/out_nosuffix", ren + ["--out", o / "r"], "r")
    err("render/out_through_file", ren + ["--out", f["a_file"] / "r.png"], "a_file.txt")
    err("render/out_is_labels", ["render", "--labels", lab, "--out", lab], "labels.nii.gz")

    # phantom / convert outputs
    for flags, mention in (
        (["--seed", "-1"], "--seed"), (["--seed", "abc"], "--seed"),
        (["--seed", "1e20"], "--seed"), (["--spacing", "0"], "spacing"),
        (["--spacing", "-1"], "spacing"), (["--spacing", "nan"], "--spacing"),
        (["--spacing", "0.1"], "spacing"), (["--spacing", "100"], "spacing"),
    ):
        err(f"phantom/{_slug(flags)}", ["phantom", "--out", o / "ph",
                                        *(["--seed", "1"] if "--seed" not in flags else []),
                                        *flags],
            mention)
    err("phantom/out_is_file", ["phantom", "--seed", "1", "--spacing", "4", "--out",
                                f["a_file"]], "a_file.txt")
    err("convert/out_xyz", ["convert", "--image", img, "--out", o / "c.xyz"], "c.xyz")
    err("convert/out_is_input", ["convert", "--image", img, "--out", img], "destroy")
    err("convert/out_through_file", ["convert", "--image", img, "--out",
                                     f["a_file"] / "c.nii.gz"], "a_file.txt")
    err("convert/series_over_other_files", ["convert", "--image", img, "--out",
                                            f["other_folder"]], "other files")
    err("convert/out_name_too_long", ["convert", "--image", img, "--out",
                                      o / ("y" * 300 + ".nii.gz")], "too long")
    err("cli/no_such_command", ["frobnicate"], "frobnicate")
    exs = ["export-seg", "--labels", lab]
    err("export-seg/out_suffix", exs + ["--out", o / "t.nrrd"], "t.nrrd")
    err("export-seg/dicom_without_image", exs + ["--out", o / "d", "--format", "dicom-seg"],
        "--image")
    err("export-seg/dicom_image_not_series", exs + ["--out", o / "d", "--format", "dicom-seg",
                                                    "--image", img], "image.nii.gz")
    err("export-seg/dicom_empty_series", exs + ["--out", o / "d", "--format", "dicom-seg",
                                                "--image", f["empty_folder"]], "empty_folder")
    err("export-seg/float_labels", ["export-seg", "--labels", f["labels_float"], "--out",
                                    o / "t.seg.nrrd"], "whole numbers")
    err("export-seg/out_is_input", ["export-seg", "--labels", lab, "--out", lab], "t")
    err("export-seg/bad_colour_table", exs + ["--out", o / "t.seg.nrrd", "--colour-table",
                                              o / "t.xyz"], "t.xyz")
    err("export-seg/junk_seg_nrrd", ["dice", "--reference", lab, "--prediction",
                                     _junk(root / "junk.seg.nrrd")], "junk.seg.nrrd")
    ok("export-seg/seg_nrrd", exs + ["--out", o / "t.seg.nrrd", "--json"])
    err("info/empty_path", ["info", "--image", ""], "empty path")
    err("convert/out_empty_path", ["convert", "--image", img, "--out", ""], "name")
    err("convert/out_device", ["convert", "--image", img, "--out", "/dev/null"], "/dev/null")
    err("sweep/every_pair_fails", ["sweep", "--image", img, "--masks", "cartesian",
                                   "--accels", "1e308"], "cartesian")
    flat = _nii(root / "slice2d.nii.gz", _image()[:, :, :1])
    err("segment/2d_image", ["segment", "--image", flat, "--out", o / "s.nii.gz"],
        "slice2d.nii.gz")
    err("info/no_image_flag", ["info"], "--image")

    # edge inputs that must work
    ok("info/image", ["info", "--image", img, "--json"])
    ok("info/raw_nii", ["info", "--image", root / "raw.nii", "--json"])
    ok("info/nrrd_gz", ["info", "--image", root / "gz.nrrd", "--json"])
    ok("info/mha_compressed", ["info", "--image", root / "compressed.mha", "--json"])
    ok("info/dicom", ["info", "--image", f["dicom_ok"], "--json"])
    ok("info/npy", ["info", "--image", truth, "--json"])
    ok("info/labels_int", ["info", "--image", lab, "--json"])
    ok("convert/to_series", ["convert", "--image", img, "--out", o / "series", "--json"])
    ok("convert/to_h5", ["convert", "--image", img, "--out", o / "c.h5", "--json"])
    ok("convert/to_mha", ["convert", "--image", img, "--out", o / "c.mha", "--json"])
    ok("simulate/accel1_infinite_psnr", ["simulate", "--image", img, "--mask", "cartesian",
                                         "--accel", "1", "--json"])
    ok("simulate/slice0", ["simulate", "--image", img, "--mask", "cartesian", "--accel", "2",
                           "--dims", "2", "--slice", "0", "--json"])
    ok("sweep/one_mask", ["sweep", "--image", img, "--masks", "cartesian", "--accels", "2",
                          "--csv", o / "s.csv", "--json"])
    ok("recon/zf_out", rec + ["--method", "zf", "--out", o / "r.nii.gz", "--json"])
    ok("recon/cascade_tiny", rec + ["--model", f["tiny_cascade.pt"], "--json"])
    ok("dice/same", ["dice", "--reference", lab, "--prediction", lab, "--json"])
    ok("dice/allow_unknown", ["dice", "--reference", lab, "--prediction", f["labels_unknown"],
                              "--allow-unknown-labels", "--json"])
    ok("dice/empty_reference", ["dice", "--reference", f["labels_empty"], "--prediction", lab,
                                "--json"])
    ok("fuse/ok", ["fuse", "--craniofacial", lab, "--brain-dir", f["brain_ok"], "--out",
                   o / "twin.nii.gz", "--json"])
    ok("mesh/ok", ["mesh", "--labels", lab, "--out", o / "m", "--json"])
    ok("render/small", ["render", "--labels", lab, "--out", o / "r.jpg", "--size", "16", "16",
                        "--json"])
    return cases


def judge(case: Case, code: int, out: str, err: str) -> list[str]:
    """What went wrong with one run of `case` (empty: it behaved)."""
    problems = []
    if "Traceback" in err or "Traceback" in out:
        problems.append("traceback")
    if code < 0 or code >= 128:
        problems.append(f"crashed (exit {code})")
    same_ok = False
    if case.check.startswith("same:") and code == 0:
        truth = np.load(case.check[5:])
        written = np.load(case.argv[case.argv.index("--out") + 1])
        same_ok = written.shape == truth.shape and np.array_equal(written, truth)
        if not same_ok:
            problems.append("a damaged file loaded with changed voxels")
    if case.check.startswith("marker:") and Path(case.check[7:]).exists():
        problems.append("code from the input ran")
    if case.expect == "error" and not same_ok:
        # training commands report progress on stderr ("[train 40.0%] ..."): not an error line
        lines = [ln for ln in err.splitlines() if ln.strip() and not PROGRESS.match(ln)]
        if code == 0:
            problems.append("exit 0 on bad input")
        elif code != 2 and not problems:
            problems.append(f"exit {code} (expected 2)")
        if len(lines) != 1 or not lines[0].startswith("headtwin: error: "):
            problems.append(f"not one error line: {err.strip()[:300]!r}")
        elif case.mentions and case.mentions not in lines[0]:
            problems.append(f"the line does not name {case.mentions!r}: {lines[0][:300]!r}")
    if case.expect == "ok":
        if code != 0:
            problems.append(f"exit {code} on good input: {err.strip()[:300]!r}")
        elif "--json" in case.argv:
            try:
                json.loads(out, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
            except ValueError as exc:
                problems.append(f"stdout is not strict JSON ({exc})")
        if err.strip() and "[train" not in err:
            problems.append(f"stderr not empty on success: {err.strip()[:200]!r}")
    return problems


RUNNER = ("import sys\n"
          "if sys.argv[1] == 'no-nnunet': sys.modules['nnunetv2'] = None\n"
          "from headtwin_app.cli.main import main\n"
          "sys.exit(main(sys.argv[2:]))\n")
NOBODY = 65534


def run_process(argv: list[str], file_size_limit: int | None = None,
                block_nnunet: bool = False, timeout: float = 300.0,
                ) -> tuple[int, str, str, bool]:
    """Run `headtwin ARGV` in its own process: (exit code, stdout, stderr, timed out). Optional:
    a file size limit (what a full disk looks like to the writer: EFBIG), nnunetv2 made
    unimportable."""
    import resource
    import subprocess
    import sys

    def limits() -> None:
        if file_size_limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))

    cmd = [sys.executable, "-c", RUNNER, "no-nnunet" if block_nnunet else "-", *argv]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              preexec_fn=limits, cwd="/", encoding="utf-8", errors="replace")
    except subprocess.TimeoutExpired as exc:
        def text(b: object) -> str:
            return b.decode(errors="replace") if isinstance(b, bytes) else str(b or "")

        return -9, text(exc.stdout), text(exc.stderr), True
    return done.returncode, done.stdout, done.stderr, False


def temporaries(folder: Path) -> list[Path]:
    """Leftover temporaries of atomic writes under `folder`."""
    return [p for p in folder.rglob("*") if ".htw-tmp" in p.name or ".htw-old" in p.name]


def run_forked_as_nobody(argv: list[str]) -> tuple[int, str, str]:
    """Run `headtwin ARGV` in a forked child that dropped to the user `nobody` (so a read-only
    folder is read-only even for root); the interpreter is the parent's, already imported."""
    import tempfile

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        pid = os.fork()
        if pid == 0:  # child
            import sys

            code = 99
            try:
                os.dup2(out.fileno(), 1)
                os.dup2(err.fileno(), 2)
                sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115 - the child exits
                sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
                os.setgid(NOBODY)
                os.setuid(NOBODY)
                from headtwin_app.cli.main import main

                code = main(argv)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        out.seek(0)
        err.seek(0)
        return (os.waitstatus_to_exitcode(status), out.read().decode(errors="replace"),
                err.read().decode(errors="replace"))
