"""Export labelled cases as an nnU-Net v2 raw dataset folder (the labelling workspace's project
export and the nnU-Net backend both write training data through this).

Layout: `DatasetNNN_Name/imagesTr/<case>_0000.nii.gz`, `labelsTr/<case>.nii.gz` and
`dataset.json` with `channel_names`, `labels` ({name: id}, background 0), `numTraining` and
`file_ending`, as nnU-Net v2 documents in dataset_format.md.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from pathlib import Path

import nibabel as nib
import numpy as np

from headtwin_app.core.labels import LabelTable, default_label_table
from headtwin_app.core.volume import Volume

FILE_ENDING = ".nii.gz"
_NAME = re.compile(r"^[A-Za-z0-9_\-]+$")


def dataset_folder_name(dataset_id: int, name: str) -> str:
    """`Dataset042_HeadTwin` from (42, "HeadTwin"); nnU-Net ids are 1..999."""
    if not 1 <= int(dataset_id) <= 999:
        raise ValueError(f"nnU-Net dataset id must be 1..999, got {dataset_id}")
    if not _NAME.match(name):
        raise ValueError(f"dataset name '{name}' may hold only letters, digits, '_' and '-'")
    return f"Dataset{int(dataset_id):03d}_{name}"


def nnunet_ids(table: LabelTable) -> dict[int, int]:
    """Our label id → nnU-Net's (which must run 1..N without gaps): the table's ids in order."""
    return {i: k for k, i in enumerate(sorted(table.ids()), start=1)}


def dataset_json(table: LabelTable, num_training: int, channel: str = "MRI",
                 name: str = "") -> dict:
    """The dataset.json dictionary: labels {name: nnU-Net id} of `table` plus background 0, and
    `headtwin_label_ids` {name: our id} to map predictions back (nnU-Net ignores the key)."""
    ids = nnunet_ids(table)
    labels = {"background": 0, **{table[i].name: k for i, k in ids.items()}}
    out = {"channel_names": {"0": channel}, "labels": labels, "numTraining": int(num_training),
           "file_ending": FILE_ENDING,
           "headtwin_label_ids": {table[i].name: i for i in ids}}
    if name:
        out["name"] = name
    return out


def export_nnunet_dataset(cases: Iterable[tuple[str, Volume, Volume]],
                          out_root: str | os.PathLike[str], dataset_id: int = 1,
                          name: str = "HeadTwin", table: LabelTable | None = None,
                          channel: str = "MRI") -> Path:
    """Write (case name, image, labels) triples as `out_root/DatasetNNN_Name/`; returns that
    folder. Labels must lie on the image grid and hold only ids of `table` (default: the twin
    layer of the label table); ValueError names the case otherwise. Label files hold nnU-Net's
    consecutive ids (`nnunet_ids`), so any subset of the table can be trained."""
    table = table if table is not None else default_label_table().layer("twin")
    folder = Path(out_root) / dataset_folder_name(dataset_id, name)
    images, labels_dir = folder / "imagesTr", folder / "labelsTr"
    allowed = np.asarray([0, *table.ids()])
    lut = np.zeros(int(allowed.max()) + 1, dtype=np.int16)
    for ours, theirs in nnunet_ids(table).items():
        lut[ours] = theirs
    count = 0
    seen: set[str] = set()
    for case, image, labels in cases:
        if not _NAME.match(case):
            raise ValueError(f"case name '{case}' may hold only letters, digits, '_' and '-'")
        if case in seen:
            raise ValueError(f"case '{case}' appears twice")
        seen.add(case)
        if image.shape != labels.shape:
            raise ValueError(f"case '{case}': label shape {labels.shape} does not match image "
                             f"{image.shape}")
        present = np.unique(labels.data)
        bad = np.setdiff1d(present, allowed)
        if bad.size:
            raise ValueError(f"case '{case}': label ids {bad.tolist()} are not in the label table")
        if count == 0:
            images.mkdir(parents=True, exist_ok=True)
            labels_dir.mkdir(parents=True, exist_ok=True)
        nib.save(nib.Nifti1Image(np.asarray(image.data, dtype=np.float32), image.affine),
                 str(images / f"{case}_0000{FILE_ENDING}"))
        dtype = np.uint8 if len(allowed) < 256 else np.int16
        mapped = lut[np.asarray(labels.data, dtype=np.int64)].astype(dtype)
        nib.save(nib.Nifti1Image(mapped, image.affine),
                 str(labels_dir / f"{case}{FILE_ENDING}"))
        count += 1
    if count == 0:
        raise ValueError("no labelled cases to export")
    meta = dataset_json(table, count, channel, name)
    (folder / "dataset.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return folder
