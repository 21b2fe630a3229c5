"""MHA/MHD/NRRD and DICOM read through SimpleITK (size and pixel type checked from the header
before the voxels are read), and ITK-format writes."""

from __future__ import annotations

import zlib
from pathlib import Path

import nibabel as nib
import numpy as np

from headtwin_app.core.errors import stderr_to_log
from headtwin_app.core.io.checks import check_affine, check_voxel_count
from headtwin_app.core.io.grid import source_meta
from headtwin_app.core.volume import Volume, VolumeError

# ITK stores LPS directions, NIfTI/nibabel RAS: flip the first two world axes between them.
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def quiet_itk() -> None:
    """ITK's own warnings (printed straight to stderr) are turned off: our errors say it."""
    import SimpleITK as sitk

    sitk.ProcessObject.SetGlobalWarningDisplay(False)


def itk_affine(image) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The RAS voxel-to-world matrix of a 2D or 3D SimpleITK image."""
    dim = image.GetDimension()
    direction = np.eye(3)
    direction[:dim, :dim] = np.asarray(image.GetDirection()).reshape(dim, dim)
    spacing = np.ones(3)
    spacing[:dim] = image.GetSpacing()
    origin = np.zeros(3)
    origin[:dim] = image.GetOrigin()
    lps = np.eye(4)
    lps[:3, :3] = direction * spacing
    lps[:3, 3] = origin
    return LPS_TO_RAS @ lps


def check_info(reader, p: Path) -> None:  # type: ignore[no-untyped-def]
    """Refuse what the header already shows to be unusable, before reading any voxel."""
    size = tuple(int(s) for s in reader.GetSize())
    if reader.GetNumberOfComponents() > 1:
        raise VolumeError(f"{p}: a multi-component (vector/colour) image; expected a scalar image")
    if len(size) > 3 and any(s > 1 for s in size[3:]):
        raise VolumeError(f"{p}: a {len(size)}D image (size {size}); only 2D or 3D images")
    check_voxel_count(size, p)


def from_itk(image, p: Path, fmt: str) -> Volume:  # type: ignore[no-untyped-def]
    import SimpleITK as sitk

    if image.GetNumberOfComponentsPerPixel() > 1:
        raise VolumeError(f"{p}: a multi-component (vector/colour) image; expected a scalar image")
    if image.GetDimension() > 3:
        size = image.GetSize()
        if any(s > 1 for s in size[3:]):
            raise VolumeError(f"{p}: a {image.GetDimension()}D image (size {size}); only 2D or 3D")
        image = image[:, :, :, 0]
    affine = itk_affine(image)
    check_affine(affine, p)
    arr = sitk.GetArrayFromImage(image)  # ITK array order is (z, y, x)
    data = np.ascontiguousarray(arr.transpose(*reversed(range(arr.ndim))))
    if data.ndim == 2:
        data = data[:, :, np.newaxis]
    canon = nib.as_closest_canonical(nib.Nifti1Image(data, affine))
    return Volume(np.ascontiguousarray(np.asanyarray(canon.dataobj)), canon.affine,
                  {"format": fmt, **source_meta(affine)})


def load_itk(p: Path, fmt: str = "itk") -> Volume:
    """One file: MHA/MHD/NRRD, or a DICOM file (checked by `dicom.check_file` first)."""
    import SimpleITK as sitk

    quiet_itk()
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(p))
    with stderr_to_log():
        reader.ReadImageInformation()
        check_info(reader, p)
        if p.suffix.lower() in (".mha", ".mhd"):
            check_metaimage(p, reader)
        image = reader.Execute()
    return from_itk(image, p, fmt)


def load_series(p: Path, files: list[str]) -> Volume:
    import SimpleITK as sitk

    quiet_itk()
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(files)
    with stderr_to_log():
        image = reader.Execute()
    return from_itk(image, p, "dicom-series")


def _meta_header(p: Path) -> tuple[dict[str, str], int]:
    """MetaImage header fields and the byte offset where the LOCAL data start."""
    fields: dict[str, str] = {}
    with open(p, "rb") as fh:
        head = fh.read(65536)
    pos = 0
    for line in head.split(b"\n"):
        pos += len(line) + 1
        key, _, value = line.decode("latin-1").partition("=")
        fields[key.strip()] = value.strip()
        if key.strip() == "ElementDataFile":
            break
    return fields, pos


def check_metaimage(p: Path, reader) -> None:  # type: ignore[no-untyped-def]
    """MetaIO meets a damaged compressed stream with a line on stderr and returns the voxels
    it has: inflate the stream here first (zlib checks its Adler-32 and its end) and compare
    its length with what the header announces."""
    fields, start = _meta_header(p)
    if fields.get("CompressedData", "").lower() != "true":
        return
    source = fields.get("ElementDataFile", "")
    if source == "LOCAL":
        with open(p, "rb") as fh:
            fh.seek(start)
            stream = fh.read()
    elif (p.parent / source).is_file():
        stream = (p.parent / source).read_bytes()
    else:
        return  # a missing data file: ITK's own error says so
    need = int(np.prod(reader.GetSize())) * reader.GetNumberOfComponents() * \
        _itk_bytes(reader.GetPixelIDValue())
    inflater = zlib.decompressobj()
    try:  # at most one byte more than announced: a "zip bomb" stops here
        size = len(inflater.decompress(stream, need + 1 if need else 0))
    except zlib.error as exc:
        raise VolumeError(f"{p}: the compressed voxel data are damaged ({exc})") from None
    if not inflater.eof or (need and size != need):
        raise VolumeError(f"{p}: the compressed voxel data are truncated or damaged ({size} "
                          f"bytes inflated, {need} expected)")


def _itk_bytes(pixel_id: int) -> int:
    import SimpleITK as sitk

    sizes = {sitk.sitkUInt8: 1, sitk.sitkInt8: 1, sitk.sitkUInt16: 2, sitk.sitkInt16: 2,
             sitk.sitkUInt32: 4, sitk.sitkInt32: 4, sitk.sitkUInt64: 8, sitk.sitkInt64: 8,
             sitk.sitkFloat32: 4, sitk.sitkFloat64: 8}
    return sizes.get(pixel_id, 0)


def to_itk(vol: Volume):  # type: ignore[no-untyped-def]
    import SimpleITK as sitk

    data = np.asarray(vol.data)
    image = sitk.GetImageFromArray(np.ascontiguousarray(data.transpose(2, 1, 0)))
    lps = LPS_TO_RAS @ vol.affine
    spacing = np.sqrt((lps[:3, :3] ** 2).sum(axis=0))
    image.SetSpacing([float(s) for s in spacing])
    image.SetOrigin([float(o) for o in lps[:3, 3]])
    image.SetDirection([float(d) for d in (lps[:3, :3] / spacing).ravel()])
    return image


def write_itk(vol: Volume, tmp: Path) -> None:
    import SimpleITK as sitk

    quiet_itk()
    with stderr_to_log():
        sitk.WriteImage(to_itk(vol), str(tmp), True)
