"""`headtwin recon` and `headtwin train-recon`: reconstruct undersampled k-space; train the cascade.

recon: an image (2D or 3D, reconstructed slice by slice along Z in batches) is undersampled
with a mask family at R, then reconstructed zero-filled, by compressed sensing or by the cascade
CNN; prints PSNR/SSIM (project convention: magnitude, data_range = max(ground truth)) of the
method and of the zero-filled image. `--kspace FILE.h5` reconstructs fastMRI-style single-coil
k-space instead: the mask is where the k-space is non-zero (or the given family applied on
top); metrics need a fully sampled file and a --mask, otherwise they are omitted.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from headtwin_app.cli.args import ACCEL, POSITIVE_INT, SEED, float_in, int_in
from headtwin_app.cli.output import emit


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("recon", help="undersample and reconstruct (zero-filled, CS, cascade CNN)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--image", help="image to undersample (NIfTI, MHA, DICOM, .npy, .h5 ...)")
    src.add_argument("--kspace", help="fastMRI-style single-coil HDF5 k-space (no ground truth)")
    p.add_argument("--mask", help="mask family (e.g. cartesian, radial); needed with --image")
    p.add_argument("--accel", type=ACCEL, default=4.0, help="acceleration R (default 4)")
    p.add_argument("--seed", type=SEED, default=0, help="mask seed (default 0)")
    p.add_argument("--method", choices=("zf", "cs", "cascade"), default="cascade")
    p.add_argument("--model", help="cascade weights (default models/recon_cascade.pt)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--batch-size", type=int_in(1, 4096), default=4,
                   help="slices per batch (default 4)")
    p.add_argument("--threads", type=int_in(1, 256), default=1,
                   help="torch CPU threads (default 1: on a shared 2-core machine one thread "
                        "was 50 ms per 256² slice, two threads up to 1.4 s from contention)")
    p.add_argument("--out", help="write the reconstruction (format by suffix)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run_recon)

    t = sub.add_parser("train-recon", help="train the cascade CNN (CPU or GPU)")
    t.add_argument("--config", help="JSON file with TrainConfig fields (see core/recon/train.py)")
    t.add_argument("--out", required=True, help="checkpoint to write, e.g. models/NAME.pt")
    t.add_argument("--max-minutes", type=float_in(0.0, 1e5, lo_open=True),
                   help="override the wall-time budget")
    t.add_argument("--steps", type=POSITIVE_INT, help="override the maximum number of steps")
    t.add_argument("--device", choices=("auto", "cpu", "cuda"), help="override the device")
    t.add_argument("--json", action="store_true", help="print JSON")
    t.set_defaults(func=run_train)


def _slices(data: np.ndarray) -> np.ndarray:
    """Volume (X, Y, Z) → encoding-layout slices (Z, Y, X): ky along Y, readout along X."""
    return np.ascontiguousarray(np.asarray(data, dtype=np.float32).transpose(2, 1, 0))


def _volume_data(slices: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(slices.transpose(2, 1, 0))


def _metrics(gt: np.ndarray, rec: np.ndarray, zf: np.ndarray) -> dict:
    """PSNR/SSIM of the method and of zero-filled: one slice → 2D; a stack → over the whole
    volume (SSIM 7×7×7), or the mean of per-slice SSIM when there are fewer than 7 slices."""
    from headtwin_app.core.metrics import psnr, ssim

    if gt.shape[0] == 1:
        gt, rec, zf = gt[0], rec[0], zf[0]
        how = "2D slice"
    elif gt.shape[0] >= 7:
        how = "whole volume"
    else:
        how = "PSNR over the volume, SSIM mean over 2D slices (fewer than 7 slices)"

    def _ssim(r: np.ndarray) -> float:
        if how.startswith("PSNR"):
            return float(np.mean([ssim(g, s) for g, s in zip(gt, r, strict=True)]))
        return ssim(gt, r)

    return {"psnr": round(psnr(gt, rec), 3), "ssim": round(_ssim(rec), 4),
            "psnr_zero_filled": round(psnr(gt, zf), 3), "ssim_zero_filled": round(_ssim(zf), 4),
            "metrics": f"magnitude, data_range = max(ground truth), SSIM 7-pixel window; {how}"}


def run_recon(args: argparse.Namespace) -> int:
    import torch

    from headtwin_app.core.atomic import check_writable, refuse_inputs
    from headtwin_app.core.io import check_save_suffix, load_volume, save_volume
    from headtwin_app.core.masks import achieved_accel, get_family
    from headtwin_app.core.recon.data import recon_mask, undersample
    from headtwin_app.core.recon.predict import (
        DEFAULT_MODEL,
        load_cascade,
        reconstruct,
        resolve_device,
    )

    torch.set_num_threads(args.threads)
    if args.image and not args.mask:
        raise ValueError("--mask FAMILY is needed with --image")
    if args.mask:
        get_family(args.mask)  # fail early on a bad name, before loading any model
    if args.method != "cascade" and args.model:
        raise ValueError("--model only applies to --method cascade")
    if args.out:
        check_save_suffix(args.out)
        refuse_inputs([args.out], [args.image, args.kspace, args.model])
        check_writable(args.out)
    device = resolve_device(args.device)
    model = None
    if args.method == "cascade":
        model = load_cascade(args.model or DEFAULT_MODEL, device)

    result: dict = {"method": args.method}
    gt = None
    if args.image:
        vol = load_volume(args.image)
        gt = _slices(vol.data)
        if not gt.max() > 0:
            raise ValueError(f"{args.image}: the image is empty (no voxel above 0); nothing to "
                             "reconstruct")
        mask = recon_mask(args.mask, gt.shape[-2:], args.accel, args.seed)
        k0, _ = undersample(gt, mask)
        result.update(image=args.image)
    else:
        vol = load_volume(args.kspace)
        if vol.kspace is None or vol.kspace.ndim != 3:
            raise ValueError(f"{args.kspace}: needs single-coil k-space (slices, ky, kx)")
        k_full = vol.kspace.astype(np.complex64)
        sampled = np.abs(k_full).max(axis=0) > 0
        if args.mask:
            mask = recon_mask(args.mask, sampled.shape, args.accel, args.seed) & sampled
            if sampled.all():
                from headtwin_app.core.fft import ifft2c

                gt = np.abs(ifft2c(k_full)).astype(np.float32)
        else:
            mask = sampled
        k0 = k_full * mask
        result.update(kspace=args.kspace)
    result.update(family=args.mask or "from k-space", accel=args.accel,
                  accel_achieved=round(achieved_accel(mask), 4), seed=args.seed,
                  slices=int(k0.shape[0]), shape=list(k0.shape[1:]))

    t0 = time.perf_counter()
    rec, _ = reconstruct(args.method, k0, mask, model, args.batch_size)
    seconds = time.perf_counter() - t0
    if gt is not None:
        zf, _ = reconstruct("zf", k0, mask)
        result.update(_metrics(gt, rec, zf))
    result.update(seconds=round(seconds, 3),
                  device=str(device) if args.method == "cascade" else "cpu")
    if model is not None:
        result["model"] = str(args.model or DEFAULT_MODEL)
        result["n_cascades"] = model.config.n_cascades
    if args.out:
        if args.image:  # in the input file's voxel grid, as every output
            from headtwin_app.core.io.grid import to_source_grid

            out_vol = to_source_grid(vol.with_data(_volume_data(rec), recon=args.method), vol)
        else:
            from headtwin_app.core.io.fastmri import stack_to_volume_data
            from headtwin_app.core.volume import Volume

            out_vol = Volume(stack_to_volume_data(rec), vol.affine,
                             {**vol.meta, "recon": args.method})
        result["out"] = str(save_volume(out_vol, args.out))
    emit(result, args.json)
    return 0


def run_train(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from headtwin_app.core.atomic import check_writable, refuse_inputs
    from headtwin_app.core.device import resolve_device
    from headtwin_app.core.recon.train import TrainConfig, train

    out = Path(args.out)
    if out.suffix != ".pt":
        raise ValueError(f"--out must end in .pt, got {out}")
    if args.config and _is_cine_config(args.config):
        return _run_train_cine(args, out)
    cfg = TrainConfig.from_json(args.config) if args.config else TrainConfig()
    overrides = {k: v for k, v in (("max_minutes", args.max_minutes), ("steps", args.steps),
                                   ("device", args.device)) if v is not None}
    cfg = replace(cfg, **overrides)
    refuse_inputs([out, out.with_suffix(".loss.png")], [args.config, cfg.init_from or None])
    check_writable(out)  # before training: an unwritable output must not cost the training
    resolve_device(cfg.device)
    log = None if args.json else (lambda line: print(line, flush=True))
    hist = train(cfg, out, log=log)
    emit({"out": str(out), "loss_curve": str(out.with_suffix(".loss.png")),
          "steps": hist["steps"], "seconds": round(hist["seconds"], 1),
          "device": hist["device"], "final_val_loss": hist["val_loss"][-1],
          "n_train_slices": hist["n_train_slices"]}, args.json)
    return 0


def _is_cine_config(path: str) -> bool:
    """A config with "task": "cine" trains the 2D+t cascade (anything unreadable goes on to the
    2D reader, which reports it)."""
    import json

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(data, dict) and data.get("task") == "cine"


def _run_train_cine(args: argparse.Namespace, out: Path) -> int:
    import json
    from dataclasses import replace

    from headtwin_app.core.atomic import check_writable, refuse_inputs
    from headtwin_app.core.recon.cine_train import CineTrainConfig, train_cine

    if args.device not in (None, "cpu", "auto"):
        raise ValueError("the cine cascade trains on the CPU here (--device cpu or auto)")
    data = json.loads(Path(args.config).read_text(encoding="utf-8"))
    cfg = CineTrainConfig.from_dict(data, args.config)
    overrides = {k: v for k, v in (("max_minutes", args.max_minutes), ("steps", args.steps))
                 if v is not None}
    cfg = replace(cfg, **overrides)
    refuse_inputs([out, out.with_suffix(".train.json")], [args.config, cfg.feature_model or None])
    check_writable(out)
    log = None if args.json else (lambda line: print(line, flush=True))
    hist = train_cine(cfg, out, log=log)
    emit({"out": str(out), "task": "cine", "steps": hist["steps"],
          "seconds": round(hist["seconds"], 1), "best_val_loss": hist["best_val_loss"],
          "best_step": hist["best_step"], "n_train_sequences": hist["n_train_sequences"]},
         args.json)
    return 0
