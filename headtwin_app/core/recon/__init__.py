"""Reconstruction of undersampled k-space: zero-filled, compressed sensing and a deep cascade CNN.

- `dc`: the data-consistency layer (soft with a learnable λ, or hard replacement).
- `cascade`: the deep cascade CNN (Schlemper et al. 2017), a plain `nn.Module`.
- `cs`: FISTA with an L1-wavelet prior, the classical baseline.
- `data`: image → undersampled k-space helpers shared by training, prediction and benchmarks.
- `predict`: numpy in/out inference from a checkpoint, in batches, yielding progress.
- `train`: a generator-based training loop yielding (step, train_loss, val_loss).
- `job`: one GUI reconstruction experiment (all methods + metrics) as a progress generator.
- `evaluate`: mean PSNR/SSIM of the methods over a set of images (benchmarks, model card).
"""
