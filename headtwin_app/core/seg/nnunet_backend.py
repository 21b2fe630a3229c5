"""nnU-Net v2 backend: export, plan and preprocess, train and predict with the `nnunetv2` package.

Everything lives in one project folder: `nnUNet_raw/`, `nnUNet_preprocessed/`, `nnUNet_results/`
(nnU-Net's three folder variables are set in the environment, which nnunetv2 2.8 reads lazily;
with older releases the names already imported are re-pointed). The trainer class is constructed
directly (as nnU-Net's own `run_training` does, with `plans["continue_training"]` set) and the
predictor is initialised by hand, so nnU-Net's trainer-by-name lookup, which imports every
trainer module (one pulls timm and torchvision, which fail with our CPU torch), is never used.
Runs on CUDA when present, else CPU.
The model given to `predict` is the trained model folder
(`nnUNet_results/DatasetNNN_Name/<Trainer>__nnUNetPlans__<configuration>`) or the project folder.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from headtwin_app.core.errors import MissingPackageError
from headtwin_app.core.seg.backend import Progress, TrainingCase
from headtwin_app.core.volume import Volume

DATASET_ID = 501
DATASET_NAME = "HeadTwin"
PATH_VARS = ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results")


def set_nnunet_paths(project: str | os.PathLike[str]) -> dict[str, Path]:
    """Point nnU-Net's three folders into `project` (environment and already-imported modules)."""
    root = Path(project).resolve()
    paths = {var: root / var for var in PATH_VARS}
    for var, p in paths.items():
        p.mkdir(parents=True, exist_ok=True)
        os.environ[var] = str(p)
    os.environ.setdefault("MPLBACKEND", "Agg")
    # nnunetv2 >= 2.7 reads the environment lazily (path objects); older releases bound plain
    # strings at import time, which are re-pointed here.
    for name, mod in list(sys.modules.items()):
        if name.startswith("nnunetv2") and mod is not None:
            for var, p in paths.items():
                if isinstance(getattr(mod, var, None), str):
                    setattr(mod, var, str(p))
    return paths


SHORT_LR = 1e-2  # AdamW initial learning rate of the short trainer (poly decay)


def _tiny_trainer_class() -> type:
    """A trainer subclass with few epochs/iterations (set per instance) for CPU and tests."""
    import torch
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

    class nnUNetTrainerHeadTwinShort(nnUNetTrainer):  # noqa: N801 - nnU-Net naming style
        """nnUNetTrainer with a short schedule (2 epochs of 5 iterations unless told otherwise)
        and AdamW instead of SGD, with poly decay like nnU-Net's own nnUNetTrainerAdam. On 3
        small phantoms, 4 × 40 iterations with SGD (momentum 0.99) predicted the skull only;
        with AdamW every trained structure appears (tests/core/test_seg_nnunet.py)."""

        def __init__(self, plans: dict, configuration: str, fold: int | str, dataset_json: dict,
                     device: Any = None):
            super().__init__(plans, configuration, fold, dataset_json,
                             device if device is not None else torch.device("cpu"))
            self.num_epochs = 2
            self.num_iterations_per_epoch = 5
            self.num_val_iterations_per_epoch = 1
            self.save_every = 10**6
            self.cpu_bf16 = False  # set by NnUNetBackend.train
            self.initial_lr = SHORT_LR

        def configure_optimizers(self) -> tuple:
            from nnunetv2.training.lr_scheduler.polylr import PolyLRScheduler

            opt = torch.optim.AdamW(self.network.parameters(), lr=self.initial_lr,
                                    weight_decay=self.weight_decay)
            return opt, PolyLRScheduler(opt, self.initial_lr, self.num_epochs)

        def initialize(self) -> None:
            super().initialize()
            if self.cpu_bf16 and self.device.type == "cpu":
                # an instance attribute: the state dict, checkpoints and predictor are unchanged
                self.network.forward = bf16_forward(self.network.forward)

    return nnUNetTrainerHeadTwinShort


def bf16_forward(forward: Any) -> Any:
    """`forward` run under CPU bfloat16 autocast, outputs back in float32 (nnU-Net's loss and
    logging expect float32). nnU-Net leaves autocast off on CPU because it is slow without
    hardware bfloat16; on CPUs with AVX512-BF16 it is about 3× faster."""
    import torch

    def run(x: Any) -> Any:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = forward(x)
        return [o.float() for o in out] if isinstance(out, (list, tuple)) else out.float()

    return run


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX)."""
    import torch

    check = getattr(torch.cpu, "_is_avx512_bf16_supported", None)
    amx = getattr(torch.cpu, "_is_amx_tile_supported", None)
    return bool((check and check()) or (amx and amx()))


def trainer_class(name: str) -> type:
    """"nnUNetTrainer" (the standard 1000-epoch schedule) or "short" (few epochs/iterations, set
    by `train`'s options); other trainers: pass "package.module:ClassName"."""
    if name == "short":
        return _tiny_trainer_class()
    if name == "nnUNetTrainer":
        from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

        return nnUNetTrainer
    if ":" in name:
        import importlib

        mod, _, cls = name.partition(":")
        return getattr(importlib.import_module(mod), cls)  # type: ignore[no-any-return]
    raise ValueError(f"unknown nnU-Net trainer '{name}': use 'short', 'nnUNetTrainer' or "
                     f"'package.module:ClassName'")


@contextlib.contextmanager
def _quiet(enabled: bool) -> Iterator[None]:
    """nnU-Net prints a lot; keep stdout clean (the CLI's JSON goes there)."""
    if not enabled:
        yield
        return
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def require_nnunet() -> None:
    """MissingPackageError unless the optional `nnunetv2` package can be imported."""
    try:
        import nnunetv2  # noqa: F401
    except ImportError:
        raise MissingPackageError("the nnunet backend needs the optional package nnunetv2 "
                                  "(pip install -c constraints.txt '.[nnunet]'); or use "
                                  "--backend builtin") from None


def nnunet_safe_globals() -> list[Any]:
    """The numpy types an nnU-Net checkpoint pickles (its training log holds numpy scalars):
    the only globals allowed besides torch's own when one is loaded."""
    try:
        from numpy._core.multiarray import scalar
    except ImportError:  # numpy 1.x
        from numpy.core.multiarray import scalar  # type: ignore[no-redef]
    kinds = [getattr(np.dtypes, n) for n in ("Float32DType", "Float64DType", "Int64DType",
                                             "Int32DType", "BoolDType")
             if hasattr(np, "dtypes") and hasattr(np.dtypes, n)]
    return [scalar, np.dtype, *kinds]


def load_nnunet_checkpoint(path: Path) -> dict[str, Any]:
    """nnU-Net's checkpoint_final.pth read with weights_only=True and an allow-list (nnU-Net
    itself unpickles it with weights_only=False, which runs whatever a crafted file asks)."""
    from headtwin_app.core.weights import ModelFileError, load_weights, state_dict_of

    what = "nnU-Net checkpoint"
    ck = load_weights(path, what, allowed=nnunet_safe_globals())
    state_dict_of(ck, path, what, key="network_weights")
    init = ck.get("init_args")
    if not isinstance(init, dict) or not isinstance(init.get("configuration"), str) or \
            not isinstance(ck.get("trainer_name"), str):
        raise ModelFileError(f"{path}: not an {what} (no init_args/configuration/trainer_name)")
    return ck


NETWORK_MODULES = ("dynamic_network_architectures.",)
LAYER_MODULES = ("torch.nn.",)


def check_plans(plans: Any, path: Path) -> None:
    """plans.json names Python classes that nnU-Net imports and builds: only network classes
    from dynamic_network_architectures and layers from torch.nn are allowed, with bounded
    sizes, so a crafted model folder can neither import other code nor ask for a huge net."""
    from headtwin_app.core.weights import ModelFileError

    configs = plans.get("configurations") if isinstance(plans, dict) else None
    if not isinstance(configs, dict):
        raise ModelFileError(f"{path}: not an nnU-Net plans file (no configurations)")
    for name, cfg in configs.items():
        arch = cfg.get("architecture") if isinstance(cfg, dict) else None
        if arch is None:
            continue
        cls = arch.get("network_class_name") if isinstance(arch, dict) else None
        kwargs = arch.get("arch_kwargs", {}) if isinstance(arch, dict) else None
        if not isinstance(cls, str) or not cls.startswith(NETWORK_MODULES) or \
                not isinstance(kwargs, dict):
            raise ModelFileError(f"{path}: configuration '{name}' asks for the network class "
                                 f"{cls!r}; only {NETWORK_MODULES[0]}* classes are allowed")
        for key in arch.get("_kw_requires_import", []):
            value = kwargs.get(key)
            if value is not None and (not isinstance(value, str) or
                                      not value.startswith(LAYER_MODULES)):
                raise ModelFileError(f"{path}: configuration '{name}' asks to import {value!r} "
                                     f"for '{key}'; only torch.nn layers are allowed")
        stages = kwargs.get("n_stages", 1)
        features = kwargs.get("features_per_stage", [])
        if not isinstance(stages, int) or not 1 <= stages <= 12 or \
                not isinstance(features, list) or \
                any(not isinstance(f, int) or not 1 <= f <= 2048 for f in features):
            raise ModelFileError(f"{path}: configuration '{name}' asks for an implausible "
                                 "network size (stages 1-12, 1-2048 features each)")



class NnUNetBackend:
    """nnU-Net v2 through its Python API, inside one project folder."""

    name = "nnunet"

    def __init__(self, model: str | os.PathLike[str] | None = None, device: str | None = None,
                 configuration: str = "3d_fullres", fold: int | str = "all",
                 trainer: str = "short", dataset_id: int = DATASET_ID,
                 dataset_name: str = DATASET_NAME, quiet: bool = True, bf16: bool = False):
        """Args:
            model: trained model folder or project folder (for `predict`).
            device: torch device; default CUDA when available, else CPU.
            configuration: nnU-Net configuration ("3d_fullres", "2d", "3d_lowres").
            fold: 0-4 or "all" (train on every case: the only choice with fewer than 5 cases).
            trainer: see `trainer_class`.
            quiet: swallow nnU-Net's console output.
            bf16: train the short trainer in bfloat16 autocast on CPU (see `bf16_forward`).
        """
        require_nnunet()
        self.bf16 = bool(bf16)
        self.model = Path(model) if model else None
        from headtwin_app.core.device import resolve_device

        self.device = resolve_device(device)
        self.configuration = configuration
        if str(fold) not in ("all", "0", "1", "2", "3", "4"):
            raise ValueError(f"nnU-Net fold '{fold}': use 'all' or 0-4")
        self.fold: int | str = "all" if str(fold) == "all" else int(fold)
        self.trainer = trainer
        self.dataset_id = int(dataset_id)
        self.dataset_name = dataset_name
        self.quiet = quiet
        self._predictor: Any = None
        self._to_ours = np.zeros(1, np.int16)

    # --- training ---------------------------------------------------------------------------
    def train(self, cases: Sequence[TrainingCase], out: str | os.PathLike[str],
              epochs: int | None = None, iterations: int | None = None,
              num_processes: int = 1, seed: int = 0, lr: float | None = None,
              **options: Any) -> Iterator[Progress]:
        """Export `cases` into the project folder `out`, plan and preprocess, train; yields
        Progress per stage and per epoch (stop iterating to cancel). Sets `self.model` to the
        trained model folder. `epochs`/`iterations` (per epoch) and `lr` (initial learning rate)
        override the trainer's."""
        import torch

        from headtwin_app.core.labels import LabelTable, default_label_table
        from headtwin_app.core.seg.nnunet_dataset import export_nnunet_dataset

        if options:
            raise ValueError(f"unknown nnU-Net training option(s): {sorted(options)}")
        cls = trainer_class(self.trainer)  # a wrong name fails here, not after preprocessing
        if not cases:
            raise ValueError("no training cases")
        if self.fold != "all" and len(cases) < 5:
            raise ValueError(f"fold {self.fold} needs at least 5 cases for nnU-Net's 5-fold "
                             f"split; use fold 'all' with {len(cases)}")
        torch.manual_seed(seed)
        np.random.seed(seed)
        paths = set_nnunet_paths(out)
        t0 = time.perf_counter()
        twin = default_label_table().layer("twin")
        present = sorted({int(i) for c in cases for i in np.unique(c.labels.data)} - {0})
        unknown = [i for i in present if i not in twin]
        if unknown:
            raise ValueError(f"label ids {unknown} are not craniofacial/CNS structures")
        if not present:
            raise ValueError("the training cases hold no labelled structure")
        # nnU-Net learns the structures the cases hold (a partly labelled set trains too)
        export_nnunet_dataset(((c.name, c.image, c.labels) for c in cases),
                              paths["nnUNet_raw"], self.dataset_id, self.dataset_name,
                              LabelTable([twin[i] for i in present]))
        yield Progress("export", 1.0, f"{len(cases)} cases exported")

        from nnunetv2.experiment_planning.plan_and_preprocess_api import (
            extract_fingerprint_dataset,
            plan_experiment_dataset,
            preprocess_dataset,
        )

        set_nnunet_paths(out)  # the modules just imported bound the names at import time
        with _quiet(self.quiet):
            extract_fingerprint_dataset(self.dataset_id, num_processes=num_processes,
                                        check_dataset_integrity=True, clean=True, verbose=False,
                                        show_progress_bar=False)
            _, plans_id = plan_experiment_dataset(self.dataset_id)
        yield Progress("plan", 1.0, "fingerprint and plans written")
        with _quiet(self.quiet):
            preprocess_dataset(self.dataset_id, plans_id, configurations=(self.configuration,),
                               num_processes=[num_processes], verbose=False,
                               show_progress_bar=False)
        yield Progress("preprocess", 1.0, f"preprocessed in {time.perf_counter() - t0:.0f} s")

        from batchgenerators.utilities.file_and_folder_operations import load_json
        from nnunetv2.utilities.dataset_name_id_conversion import convert_id_to_dataset_name

        dname = convert_id_to_dataset_name(self.dataset_id)
        pre = paths["nnUNet_preprocessed"] / dname
        plans = load_json(str(pre / f"{plans_id}.json"))
        plans["continue_training"] = False  # what run_training's get_trainer_from_args sets
        if self.configuration not in plans["configurations"]:
            raise ValueError(f"nnU-Net planned no '{self.configuration}' configuration for these "
                             f"cases (has {sorted(plans['configurations'])})")
        if self.device.type == "cpu":  # augment in the training process (the planner needs >0)
            os.environ.setdefault("nnUNet_n_proc_DA", "0")
        with _quiet(self.quiet):
            tr = cls(plans=plans, configuration=self.configuration, fold=self.fold,
                     dataset_json=load_json(str(pre / "dataset.json")), device=self.device)
        if hasattr(tr, "cpu_bf16"):
            tr.cpu_bf16 = self.bf16
        if epochs:
            tr.num_epochs = int(epochs)
        if lr:
            tr.initial_lr = float(lr)
        if iterations:
            tr.num_iterations_per_epoch = int(iterations)
            tr.num_val_iterations_per_epoch = max(1, int(iterations) // 5)
        yield from self._run_training(tr)
        self.model = Path(tr.output_folder_base)
        self._predictor = None
        yield Progress("done", 1.0, f"model in {self.model}",
                       {"seconds": time.perf_counter() - t0})

    def _run_training(self, tr: Any) -> Iterator[Progress]:
        """nnUNetTrainer.run_training, one epoch at a time so progress and cancel work."""
        import torch

        with _quiet(self.quiet):
            tr.on_train_start()
        finished = False
        try:
            for epoch in range(tr.current_epoch, tr.num_epochs):
                with _quiet(self.quiet):
                    tr.on_epoch_start()
                    tr.on_train_epoch_start()
                    outs = [tr.train_step(next(tr.dataloader_train))
                            for _ in range(tr.num_iterations_per_epoch)]
                    tr.on_train_epoch_end(outs)
                    with torch.no_grad():
                        tr.on_validation_epoch_start()
                        vals = [tr.validation_step(next(tr.dataloader_val))
                                for _ in range(tr.num_val_iterations_per_epoch)]
                        tr.on_validation_epoch_end(vals)
                    tr.on_epoch_end()
                loss = float(np.mean([o["loss"] for o in outs]))
                yield Progress("train", (epoch + 1) / tr.num_epochs,
                               f"epoch {epoch + 1}/{tr.num_epochs}", {"loss": loss})
            finished = True
        finally:
            with _quiet(self.quiet):
                if finished:
                    tr.on_train_end()  # writes checkpoint_final.pth, stops the loaders
                else:
                    for dl in (tr.dataloader_train, tr.dataloader_val):
                        if hasattr(dl, "_finish"):
                            dl._finish()

    # --- prediction -------------------------------------------------------------------------
    def _model_folder(self) -> Path:
        if self.model is None:
            raise ValueError("no nnU-Net model: pass --model (a trained model folder or the "
                             "project folder)")
        m = self.model
        if not m.exists():
            raise ValueError(f"{m}: nnU-Net model folder not found")
        if (m / "plans.json").exists():
            return m
        found = sorted(p.parent for p in m.glob("nnUNet_results/*/*/plans.json"))
        found += sorted(p.parent for p in m.glob("*/*/plans.json"))
        if not found:
            raise ValueError(f"{m}: no trained nnU-Net model (plans.json) in this folder")
        return found[0]

    def load(self) -> Any:
        """Build the network from plans.json and the checkpoint, without the trainer lookup."""
        if self._predictor is not None:
            return self._predictor
        from batchgenerators.utilities.file_and_folder_operations import load_json
        from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor
        from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer
        from nnunetv2.utilities.label_handling.label_handling import (
            determine_num_input_channels,
        )
        from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

        folder = self._model_folder()
        fold = "all" if (folder / "fold_all").exists() else self.fold
        ck_file = folder / f"fold_{fold}" / "checkpoint_final.pth"
        if not ck_file.exists():
            raise ValueError(f"{ck_file}: missing nnU-Net weights (train first)")
        from headtwin_app.core.weights import build_checked

        ck = load_nnunet_checkpoint(ck_file)
        dataset_json = load_json(str(folder / "dataset.json"))
        plans = load_json(str(folder / "plans.json"))
        check_plans(plans, folder / "plans.json")
        plans_manager = PlansManager(plans)
        cm = plans_manager.get_configuration(ck["init_args"]["configuration"])
        n_in = determine_num_input_channels(plans_manager, cm, dataset_json)
        n_out = plans_manager.get_label_manager(dataset_json).num_segmentation_heads
        net = build_checked(lambda: nnUNetTrainer.build_network_architecture(
            plans_manager, cm, n_in, n_out, enable_deep_supervision=False),
            ck["network_weights"], ck_file, "nnU-Net checkpoint")
        cuda = self.device.type == "cuda"
        pred = nnUNetPredictor(tile_step_size=0.5, use_gaussian=True, use_mirroring=cuda,
                               perform_everything_on_device=cuda, device=self.device,
                               verbose=False, verbose_preprocessing=False, allow_tqdm=False)
        pred.manual_initialization(net, plans_manager, cm, [net.state_dict()], dataset_json,
                                   ck["trainer_name"], ck.get("inference_allowed_mirroring_axes"))
        self._to_ours = _prediction_lut(dataset_json)
        self._predictor = pred
        return pred

    def predict(self, image: Volume) -> Volume:
        """Label map on the image's grid (nnU-Net resamples internally and back)."""
        pred = self.load()
        # nnU-Net's SimpleITK reader sees our (X, Y, Z) NIfTI as (Z, Y, X); do the same here.
        data = np.asarray(image.data, dtype=np.float32).transpose(2, 1, 0)[None]
        props = {"spacing": [float(s) for s in image.spacing[::-1]]}
        with _quiet(self.quiet):
            seg = pred.predict_single_npy_array(data, props, None, None, False)
        seg = self._to_ours[np.asarray(seg).transpose(2, 1, 0).astype(np.int64)]
        if seg.shape != image.shape:
            raise ValueError(f"nnU-Net returned shape {seg.shape} for an image of {image.shape}")
        return image.with_data(seg)

    def iter_predict(self, image: Volume) -> Iterator[Progress | Volume]:
        """Generator form of `predict` (the backend interface): loading, predicting, the labels
        last. nnU-Net predicts in one call, so Cancel takes effect after it."""
        yield Progress("load", 0.0, "nnU-Net: loading the model")
        self.load()
        yield Progress("predict", 0.3, "nnU-Net: predicting")
        yield self.predict(image)

    def describe(self) -> dict[str, Any]:
        """Model folder and labels, for reports."""
        folder = self._model_folder()
        ds = json.loads((folder / "dataset.json").read_text(encoding="utf-8"))
        ours = ds.get("headtwin_label_ids", {})
        return {"model": str(folder),
                "labels": {n: int(ours.get(n, k)) for n, k in ds.get("labels", {}).items()}}


def _prediction_lut(dataset_json: dict) -> np.ndarray:
    """nnU-Net's label index → our label id (dataset.json's `headtwin_label_ids`; a dataset
    without it used our ids directly)."""
    ours = dataset_json.get("headtwin_label_ids", {})
    pairs = {int(k): int(ours.get(n, k)) for n, k in dataset_json["labels"].items()}
    lut = np.zeros(max(pairs) + 1, np.int16)
    for k, i in pairs.items():
        lut[k] = i
    return lut
