"""Training pairs of the all-in-one model (all-in-one paper §2.2): k-space degradation plus a
conventional reconstruction pipeline, with the exact noise reduction factor (NRF) of each pair.

Layout: a 2D slice is (ny, nx) with axis 0 = phase encode and axis 1 = readout (frequency); a 3D
stack is (nz, ny, nx) with axis 0 = slice encode (a 3D acquisition). FFTs are centred and
orthonormal (`core.fft`), so complex white noise of standard deviation σ per k-space sample (σ on
each of the real and imaginary parts) is complex white noise of σ per pixel.

Bookkeeping. The image given is taken as noise-free truth; its k-space gets the **target noise**
σ_t = target_noise_rel · p99(|image|) (the raw data's own noise). The target is the pipeline
applied to that k-space, fully sampled and unfiltered: its real part has noise σ_t exactly. The
input is the *same* k-space, the *same* noise realisation, plus independent added noise
σ_a = noise_sigma_rel · σ_t, multiplied by the sampling mask m (kmax × partial Fourier × uniform ×
random × elliptical) and the anti-ringing filter w, then zero-filled (zero-padded to the full grid)
and reconstructed by the same pipeline. Every pixel of it is a linear combination of independent
circular k-space samples, so its noise has per-component standard deviation
σ_in = √((σ_t² + σ_a²) · Σ m·w² / N), N the number of k-space points (partial Fourier
zero-filled included: it only removes samples). Hence

    NRF = σ_in / σ_t = √((1 + ρ²) · Σ m·w² / N),   ρ = σ_a / σ_t,

exact in expectation for the real component, and for the magnitude at high SNR (where the noise
along the signal phase is the real-part noise). "Independent random noise is not learnable": the
target keeps its own noise realisation σ_t, which the input shares, so the best a network can do is
remove the extra part — the factor the context states — never the target's own noise; at inference
the user asks for a factor and gets that much denoising. When a degradation removes more noise
than it adds (heavy kmax cuts, Σ m·w²/N < 1/(1 + ρ²)), noise is *added* (ρ raised to √(N/Σ m·w²
− 1)) so that NRF = 1: a network must never be asked to add noise. The effective ρ is in the
pair's info.

Pipeline steps after zero-filling: component (magnitude or real part), a smooth coil-like
multiplicative field (the residual of surface-coil intensity normalisation, a property of the
scanner and coil, so the *same* field multiplies input and target: the noise ratio is unchanged
pixel by pixel) and integer quantisation of the input (DICOM pixels: integers × a random rescale
slope; its uniform noise, slope/√12, is not in the NRF — negligible when the slope ≪ σ_in, as
with 12 bits). The anti-ringing filter and the sampling are input-side (they belong to the
degraded acquisition); the target is the full, unfiltered reconstruction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np

from headtwin_app.core import masks
from headtwin_app.core.enhance.context import NRF_RANGE, Context
from headtwin_app.core.fft import fftnc, ifftnc

COMPONENTS = ("magnitude", "real")
HAMMING_DEPTH = 0.46  # the Hamming window 0.54 + 0.46·cos(πu) at filter strength 1
UNIFORM_CENTRE = 0.08  # fully sampled centre band of the uniform pattern (fraction of ny)


@dataclass(frozen=True)
class Degradation:
    """One k-space degradation and conventional pipeline (all-in-one paper §2.2).

    Args:
        noise_sigma_rel: added complex Gaussian noise σ_a relative to the target's own noise σ_t
            (per k-space sample = per pixel, orthonormal FFT), ≥ 0; raised when needed so NRF ≥ 1.
        phase_kmax: fraction of the phase-encode extent kept, centred on DC (0, 1].
        freq_kmax: the same along the readout (frequency) axis.
        slice_kmax: the same along the slice axis (3D stacks only; 1 for 2D).
        phase_pf: partial-Fourier fraction of the (kmax-kept) phase extent, [0.5, 1]: lines are
            kept from the first index (−k_max) up past the DC line, as `masks.partial_fourier`.
        slice_pf: the same along the slice axis (3D only).
        uniform_r: equispaced phase lines inside the kmax × PF region with a fully sampled centre
            band; round(n_acquired / R) lines are kept, the achieved R goes to the context.
        random_r: random phase lines (with a small centre band) among those kept so far.
        elliptical: drop the corners outside the ellipse inscribed in the kmax box of the phase
            plane: (ky, kx) in 2D, (kz, ky) in 3D with the readout fully sampled.
        filter_strength: separable Hamming anti-ringing filter over each axis' kmax extent,
            w = 1 − s·0.46·(1 − cos πu), 0 = none, 1 = full Hamming; input only.
        component: "magnitude" or "real" (of the complex reconstruction), both images.
        intensity_field: strength s of the smooth multiplicative field exp(s·g), |g| ≤ 1, applied
            to both images; 0 = none, ≤ 1.
        quantise_bits: 0 = none, else 8–16: the input is rounded to integers with a random
            scale (max |input| ↦ 50–100 % of 2^bits − 1) and divided back.
    """

    noise_sigma_rel: float = 1.0
    phase_kmax: float = 1.0
    freq_kmax: float = 1.0
    slice_kmax: float = 1.0
    phase_pf: float = 1.0
    slice_pf: float = 1.0
    uniform_r: float = 1.0
    random_r: float = 1.0
    elliptical: bool = False
    filter_strength: float = 0.0
    component: str = "magnitude"
    intensity_field: float = 0.0
    quantise_bits: int = 0

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "component":
                if v not in COMPONENTS:
                    raise ValueError(f"component must be one of {', '.join(COMPONENTS)}, "
                                     f"got {v!r}")
            elif f.name == "elliptical":
                if not isinstance(v, (bool, np.bool_)):
                    raise ValueError(f"elliptical must be a bool, got {v!r}")
            elif isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"degradation {f.name} must be a finite number, got {v!r}")
        if self.noise_sigma_rel < 0:
            raise ValueError(f"noise_sigma_rel must be >= 0, got {self.noise_sigma_rel:g}")
        for name in ("phase_kmax", "freq_kmax", "slice_kmax"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in (0, 1], got {getattr(self, name):g}")
        for name in ("phase_pf", "slice_pf"):
            if not 0.5 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0.5, 1], got {getattr(self, name):g}")
        for name in ("uniform_r", "random_r"):
            if getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name):g}")
        for name in ("filter_strength", "intensity_field"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name):g}")
        if not isinstance(self.quantise_bits, (int, np.integer)) or not (
                self.quantise_bits == 0 or 8 <= self.quantise_bits <= 16):
            raise ValueError(f"quantise_bits must be 0 (off) or 8-16, got {self.quantise_bits!r}")


@dataclass(frozen=True)
class Sampling:
    """A degradation made concrete on one grid: the k-space mask, the filter and the achieved
    fractions (what the context reports)."""

    mask: np.ndarray  # bool, the image shape
    weights: np.ndarray  # float filter, broadcastable to the image shape
    achieved: dict[str, float] = field(default_factory=dict)

    @property
    def weighted_fraction(self) -> float:
        """Σ m·w² / N: the factor by which zero-filled reconstruction scales noise power."""
        w2 = np.broadcast_to(self.weights ** 2, self.mask.shape)
        return float(np.sum(w2[self.mask]) / self.mask.size)


@dataclass(frozen=True)
class SimPair:
    """One training pair: degraded input, target, the context and the bookkeeping."""

    input: np.ndarray  # float32, the image shape
    target: np.ndarray  # float32, the image shape
    context: Context
    k_mask: np.ndarray  # bool, the image shape
    info: dict[str, Any]


# ---------------------------------------------------------------------------------------------
# sampling


def _check_image_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    shape = tuple(int(s) for s in shape)
    if len(shape) not in (2, 3):
        raise ValueError(f"an image is 2D (ny, nx) or a 3D stack (nz, ny, nx), got shape {shape}")
    if min(shape) < 2 or min(shape[-2:]) < 8:
        raise ValueError(f"image shape {shape} is too small (in-plane >= 8, slices >= 2)")
    return shape


def _check_dims(deg: Degradation, shape: tuple[int, ...]) -> None:
    if len(shape) == 2 and (deg.slice_kmax != 1.0 or deg.slice_pf != 1.0):
        raise ValueError("slice_kmax and slice_pf act along the slice axis of a 3D stack "
                         "(nz, ny, nx); a 2D slice needs them at 1")


def _kmax_window(n: int, fraction: float) -> tuple[int, int]:
    """(start, count) of the centred block of round(f·n) indices holding the DC index n // 2."""
    m = max(1, int(round(n * fraction)))
    return n // 2 - m // 2, m


def _axis_region(n: int, kmax: float, pf: float) -> np.ndarray:
    """1D bool: the centred kmax block, cut by partial Fourier to its first fraction past DC."""
    start, m = _kmax_window(n, kmax)
    kept = m
    if pf < 1.0:
        kept = min(m, max(int(round(pf * m)), n // 2 - start + 1))  # always past the DC line
    out = np.zeros(n, dtype=bool)
    out[start:start + kept] = True
    return out


def _axis_filter(n: int, kmax: float, strength: float) -> np.ndarray:
    """Hamming blend over the kmax extent, centred on DC: 1 at DC, 1 − 0.92·s at the edge."""
    _, m = _kmax_window(n, kmax)
    u = np.clip((np.arange(n) - n // 2) / (m / 2.0), -1.0, 1.0)
    return 1.0 - strength * HAMMING_DEPTH * (1.0 - np.cos(np.pi * u))


def _ellipse(shape: tuple[int, int], kmax: tuple[float, float]) -> np.ndarray:
    """The ellipse inscribed in the kmax box of a plane, centred on DC."""
    axes = []
    for n, f in zip(shape, kmax, strict=True):
        _, m = _kmax_window(n, f)
        axes.append((np.arange(n) - n // 2) / (m / 2.0))
    return (axes[0][:, None] ** 2 + axes[1][None, :] ** 2) <= 1.0


def _lines(kind: str, ny: int, allowed: np.ndarray, r: float, seed: int) -> np.ndarray:
    """round(n_allowed / R) phase lines among `allowed` by a `masks` family (exact count)."""
    n_allowed = int(allowed.sum())
    n_keep = max(1, int(round(n_allowed / r)))
    support = allowed[:, None]
    if kind == "uniform":
        cf = min(UNIFORM_CENTRE, 0.5 * n_keep / ny)
        m = masks.equispaced((ny, 1), ny / n_keep, seed, center_fraction=cf, support=support)
    else:
        m = masks.random_line((ny, 1), ny / n_keep, seed, support=support)
    return np.asarray(m[:, 0], dtype=bool)


def make_sampling(deg: Degradation, shape: tuple[int, ...], seed: int = 0) -> Sampling:
    """The mask, filter and achieved fractions of `deg` on an image grid (seeded)."""
    shape = _check_image_shape(shape)
    _check_dims(deg, shape)
    is_3d = len(shape) == 3
    ny, nx = shape[-2:]
    nz = shape[0] if is_3d else 1
    phase = _axis_region(ny, deg.phase_kmax, deg.phase_pf)
    freq = _axis_region(nx, deg.freq_kmax, 1.0)
    slc = _axis_region(nz, deg.slice_kmax, deg.slice_pf) if is_3d else np.ones(1, bool)
    n_region = int(phase.sum())
    lines = phase
    if deg.uniform_r > 1.0:
        lines = _lines("uniform", ny, lines, deg.uniform_r, seed)
    n_uniform = int(lines.sum())
    if deg.random_r > 1.0:
        lines = _lines("random", ny, lines, deg.random_r, seed + 1)
    n_lines = int(lines.sum())
    _, m_p = _kmax_window(ny, deg.phase_kmax)
    _, m_f = _kmax_window(nx, deg.freq_kmax)
    _, m_s = _kmax_window(nz, deg.slice_kmax)
    achieved = {
        "phase_kmax": m_p / ny, "freq_kmax": m_f / nx, "slice_kmax": m_s / nz if is_3d else 1.0,
        "phase_pf": n_region / m_p, "slice_pf": int(slc.sum()) / m_s if is_3d else 1.0,
        "uniform_r": n_region / n_uniform, "random_r": n_uniform / n_lines,
    }
    s = deg.filter_strength
    if is_3d:
        mask = slc[:, None, None] & lines[None, :, None] & freq[None, None, :]
        if deg.elliptical:
            mask = mask & _ellipse((nz, ny), (deg.slice_kmax, deg.phase_kmax))[:, :, None]
        weights = (_axis_filter(nz, deg.slice_kmax, s)[:, None, None]
                   * _axis_filter(ny, deg.phase_kmax, s)[None, :, None]
                   * _axis_filter(nx, deg.freq_kmax, s)[None, None, :])
    else:
        mask = lines[:, None] & freq[None, :]
        if deg.elliptical:
            mask = mask & _ellipse((ny, nx), (deg.phase_kmax, deg.freq_kmax))
        weights = _axis_filter(ny, deg.phase_kmax, s)[:, None] * _axis_filter(nx, deg.freq_kmax,
                                                                              s)[None, :]
    return Sampling(np.ascontiguousarray(mask), weights, achieved)


# ---------------------------------------------------------------------------------------------
# noise bookkeeping


def effective_noise_rel(deg: Degradation, weighted_fraction: float) -> float:
    """ρ actually added: deg.noise_sigma_rel, raised to √(1/F − 1) when F = Σm·w²/N would
    otherwise give NRF < 1."""
    if not 0.0 < weighted_fraction <= 1.0:
        raise ValueError(f"the weighted sampled fraction must be in (0, 1], got "
                         f"{weighted_fraction:g}")
    floor = math.sqrt(max(0.0, 1.0 / weighted_fraction - 1.0))
    return max(float(deg.noise_sigma_rel), floor)


def nrf_from_fraction(noise_rel: float, weighted_fraction: float) -> float:
    """NRF = √((1 + ρ²)·Σm·w²/N): input / target image noise std (orthonormal, zero-filled)."""
    value = math.sqrt((1.0 + noise_rel ** 2) * weighted_fraction)
    return 1.0 if abs(value - 1.0) < 1e-12 else value  # the clamped case is exactly 1


def expected_nrf(deg: Degradation, shape: tuple[int, ...], seed: int = 0) -> float:
    """The exact expected NRF of `deg` on a grid (independent of σ_t: ρ is relative to it);
    `seed` only moves uniform/random lines, which changes Σw² slightly with a filter."""
    frac = make_sampling(deg, shape, seed).weighted_fraction
    return nrf_from_fraction(effective_noise_rel(deg, frac), frac)


# ---------------------------------------------------------------------------------------------
# pipeline


def _complex_noise(rng: np.random.Generator, shape: tuple[int, ...], sigma: float) -> np.ndarray:
    """Circular complex white noise, σ on each of the real and imaginary parts."""
    return sigma * (rng.standard_normal(shape) + 1j * rng.standard_normal(shape))


def _component(x: np.ndarray, component: str) -> np.ndarray:
    return np.abs(x) if component == "magnitude" else x.real


def coil_field(shape: tuple[int, ...], strength: float, rng: np.random.Generator) -> np.ndarray:
    """A smooth coil-like multiplicative field exp(s·g), g a random quadratic with max |g| = 1."""
    coords = np.meshgrid(*[np.linspace(-1.0, 1.0, n) for n in shape], indexing="ij")
    terms = list(coords) + [c * c for c in coords]
    terms += [coords[i] * coords[j] for i in range(len(coords)) for j in range(i + 1, len(coords))]
    g = sum(rng.standard_normal() * t for t in terms)
    g = np.asarray(g, np.float64)
    peak = float(np.max(np.abs(g)))
    g = g / peak if peak > 0 else g
    return np.exp(strength * g)


def _reconstruct_pair(k_clean: np.ndarray, sampling: Sampling, sigma_t: float, sigma_a: float,
                      component: str, fld: np.ndarray | None,
                      rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(input, target) before quantisation: shared target noise, added noise, mask × filter,
    zero-filled reconstruction to the full grid, component, field."""
    axes = tuple(range(k_clean.ndim))
    k_target = k_clean + _complex_noise(rng, k_clean.shape, sigma_t)
    k_input = k_target + _complex_noise(rng, k_clean.shape, sigma_a)
    k_input = np.where(sampling.mask, k_input * sampling.weights, 0.0)
    target = _component(ifftnc(k_target, axes), component)
    inp = _component(ifftnc(k_input, axes), component)
    if fld is not None:
        target, inp = target * fld, inp * fld
    return inp, target


def quantise(image: np.ndarray, bits: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Integer image × (1/scale) as DICOM stores it: max |image| ↦ a random 50–100 % of
    2^bits − 1; returns (rescaled float image, scale)."""
    top = float(2 ** bits - 1)
    peak = float(np.max(np.abs(image)))
    if peak <= 0:
        return np.zeros_like(image), 1.0
    scale = rng.uniform(0.5, 1.0) * top / peak
    ints = np.clip(np.rint(image * scale), -top, top)
    return ints / scale, scale


def simulate_pair(image: np.ndarray, deg: Degradation, rng: np.random.Generator,
                  target_noise_rel: float = 0.02) -> SimPair:
    """A training pair from a (noise-free) image: target and degraded input through the same
    conventional pipeline, the context with the exact NRF, and the mask.

    Args:
        image: (ny, nx) slice or (nz, ny, nx) 3D stack, real or complex, assumed clean relative
            to the target noise (its own noise would count as signal).
        deg: the degradation and pipeline.
        rng: source of every random choice (mask seeds, noise, field, quantisation scale).
        target_noise_rel: σ_t / p99(|image|), > 0: the raw data's own noise.
    Returns:
        SimPair; info holds sigma_target, sigma_added, noise_rel_effective, weighted_fraction,
        sampled_fraction, achieved, quant_scale.
    """
    image = np.asarray(image)
    if not (np.issubdtype(image.dtype, np.floating) or np.issubdtype(image.dtype, np.integer)
            or np.iscomplexobj(image)):
        raise ValueError(f"image must be numeric, got dtype {image.dtype}")
    shape = _check_image_shape(image.shape)
    if not np.all(np.isfinite(image)):
        raise ValueError("image holds NaN or inf")
    if not (math.isfinite(target_noise_rel) and target_noise_rel > 0):
        raise ValueError(f"target_noise_rel must be > 0 (the NRF is relative to the target "
                         f"noise), got {target_noise_rel:g}")
    p99 = float(np.percentile(np.abs(image), 99))
    if p99 <= 0:
        raise ValueError("image is empty (99th percentile of |image| is 0)")
    seed = int(rng.integers(0, 2 ** 31 - 1))
    sampling = make_sampling(deg, shape, seed)
    frac = sampling.weighted_fraction
    rho = effective_noise_rel(deg, frac)
    sigma_t = target_noise_rel * p99
    fld = coil_field(shape, deg.intensity_field, rng) if deg.intensity_field > 0 else None
    k_clean = fftnc(image.astype(np.complex128), tuple(range(image.ndim)))
    inp, target = _reconstruct_pair(k_clean, sampling, sigma_t, rho * sigma_t, deg.component,
                                    fld, rng)
    scale = 1.0
    if deg.quantise_bits:
        inp, scale = quantise(inp, int(deg.quantise_bits), rng)
    a = sampling.achieved
    context = Context(
        nrf=nrf_from_fraction(rho, frac), phase_kmax=a["phase_kmax"], freq_kmax=a["freq_kmax"],
        slice_kmax=a["slice_kmax"], phase_pf=a["phase_pf"], slice_pf=a["slice_pf"],
        uniform_r=a["uniform_r"], random_r=a["random_r"], elliptical=float(deg.elliptical),
        is_3d=float(len(shape) == 3),
    )
    info = {"sigma_target": sigma_t, "sigma_added": rho * sigma_t, "noise_rel_effective": rho,
            "weighted_fraction": frac, "sampled_fraction": float(sampling.mask.mean()),
            "achieved": dict(a), "quant_scale": scale, "mask_seed": seed}
    return SimPair(inp.astype(np.float32), target.astype(np.float32), context, sampling.mask,
                   info)


def measured_nrf(deg: Degradation, shape: tuple[int, ...], rng: np.random.Generator,
                 repeats: int = 4) -> float:
    """NRF measured by the noise-only experiment: the pipeline (real component, no quantisation)
    on a zero image with two independent noise realisations; std(difference)/√2 of input over
    that of target."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    shape = _check_image_shape(shape)
    sampling = make_sampling(deg, shape, int(rng.integers(0, 2 ** 31 - 1)))
    rho = effective_noise_rel(deg, sampling.weighted_fraction)
    fld = coil_field(shape, deg.intensity_field, rng) if deg.intensity_field > 0 else None
    zero = np.zeros(shape, np.complex128)
    var_in = var_t = 0.0
    for _ in range(repeats):
        i1, t1 = _reconstruct_pair(zero, sampling, 1.0, rho, "real", fld, rng)
        i2, t2 = _reconstruct_pair(zero, sampling, 1.0, rho, "real", fld, rng)
        var_in += float(np.var(i1 - i2)) / 2.0
        var_t += float(np.var(t1 - t2)) / 2.0
    return math.sqrt(var_in / var_t)


# ---------------------------------------------------------------------------------------------
# random draws


def _approx_fraction(deg: Degradation) -> float:
    """Σm·w²/N from the fractions alone (continuous limit), to aim ρ at a drawn NRF."""
    f = (deg.phase_kmax * deg.freq_kmax * deg.slice_kmax * deg.phase_pf * deg.slice_pf
         / (deg.uniform_r * deg.random_r))
    if deg.elliptical:
        f *= math.pi / 4.0
    d = HAMMING_DEPTH * deg.filter_strength
    per_axis = (1.0 - d) ** 2 + d * d / 2.0  # mean of ((1 − d) + d·cos πu)² over u ∈ [−1, 1]
    return f * per_axis ** (3 if deg.slice_kmax < 1 or deg.slice_pf < 1 else 2)


def random_degradation(rng: np.random.Generator, is_3d: bool = False) -> Degradation:
    """A random combination over the training ranges: noise always (aimed at an NRF drawn
    log-uniformly in NRF_RANGE), kmax 0.5–1 per axis (p 0.5), PF 0.6–1 (p 0.4), uniform R 1–3
    (p 0.4), random R 1–2.5 (p 0.3), elliptical (p 0.3), filter (p 0.5), real component (p 0.2),
    field ≤ 0.4 (p 0.5), 12-bit quantisation (p 0.5)."""
    def on(p: float) -> bool:
        return bool(rng.random() < p)

    def draw(p: float, lo: float, hi: float) -> float:
        return float(rng.uniform(lo, hi)) if on(p) else 1.0

    deg = Degradation(
        phase_kmax=draw(0.5, 0.5, 1.0), freq_kmax=draw(0.5, 0.5, 1.0),
        slice_kmax=draw(0.5, 0.5, 1.0) if is_3d else 1.0,
        phase_pf=draw(0.4, 0.6, 1.0), slice_pf=draw(0.4, 0.6, 1.0) if is_3d else 1.0,
        uniform_r=draw(0.4, 1.0, 3.0), random_r=draw(0.3, 1.0, 2.5), elliptical=on(0.3),
        filter_strength=float(rng.uniform(0.0, 1.0)) if on(0.5) else 0.0,
        component="real" if on(0.2) else "magnitude",
        intensity_field=float(rng.uniform(0.0, 0.4)) if on(0.5) else 0.0,
        quantise_bits=12 if on(0.5) else 0,
    )
    lo, hi = NRF_RANGE
    nrf = math.exp(rng.uniform(math.log(lo), math.log(hi)))
    rho = math.sqrt(max(nrf ** 2 / _approx_fraction(deg) - 1.0, 0.01))  # ρ ≥ 0.1: noise always
    return replace(deg, noise_sigma_rel=rho)
