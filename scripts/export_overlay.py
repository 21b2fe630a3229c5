"""Check exported meshes in a second viewer: plain VTK, no app code for reading or placing.

    python scripts/export_overlay.py [--out docs/screenshots]

Exports the sample head's skull, eyeballs and spinal cord as LPS STL and the whole craniofacial
set as GLB with `headtwin mesh`, then draws each file's cut through an axial slice of the image
read by SimpleITK (LPS physical space): the STL as stored (its header says SPACE=LPS), the GLB
mapped back from glTF's frame (metres, +X left, +Y superior, +Z anterior) to LPS millimetres.
The contours must lie on the structures' edges in the image.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import vtkmodules.vtkRenderingOpenGL2  # noqa: F401
from vtkmodules.util import numpy_support as ns
from vtkmodules.vtkCommonDataModel import vtkImageData, vtkPlane
from vtkmodules.vtkCommonTransforms import vtkTransform
from vtkmodules.vtkFiltersCore import vtkAppendPolyData, vtkCutter
from vtkmodules.vtkFiltersGeneral import vtkTransformFilter
from vtkmodules.vtkFiltersGeometry import vtkCompositeDataGeometryFilter
from vtkmodules.vtkIOGeometry import vtkGLTFReader, vtkSTLReader
from vtkmodules.vtkIOImage import vtkPNGWriter
from vtkmodules.vtkRenderingCore import (
    vtkActor,
    vtkImageActor,
    vtkPolyDataMapper,
    vtkRenderer,
    vtkRenderWindow,
    vtkTextActor,
    vtkWindowToImageFilter,
)

ROOT = Path(__file__).resolve().parents[1]


def image_slice(path: Path, k: int) -> tuple[vtkImageData, float]:
    """Axial slice k of an axis-aligned image, placed in LPS mm as SimpleITK reports it."""
    img = sitk.ReadImage(str(path))
    arr = sitk.GetArrayFromImage(img)[k].astype(np.float32)  # (y, x)
    origin = np.array(img.TransformIndexToPhysicalPoint((0, 0, k)))
    d = np.array(img.GetDirection()).reshape(3, 3)
    sp = np.array(img.GetSpacing())
    out = vtkImageData()
    out.SetDimensions(arr.shape[1], arr.shape[0], 1)
    out.SetSpacing(sp[0] * d[0, 0], sp[1] * d[1, 1], 1.0)
    out.SetOrigin(*origin)
    grey = np.clip(255 * arr / np.percentile(arr, 99.5), 0, 255).astype(np.uint8)
    out.GetPointData().SetScalars(ns.numpy_to_vtk(grey.ravel(), deep=True))
    return out, float(origin[2])


def read_stl(path: Path):  # type: ignore[no-untyped-def]
    assert b"SPACE=LPS" in path.read_bytes()[:80]
    reader = vtkSTLReader()
    reader.SetFileName(str(path))
    reader.Update()
    return reader.GetOutput()


def read_glb_as_lps(path: Path):  # type: ignore[no-untyped-def]
    reader = vtkGLTFReader()
    reader.SetFileName(str(path))
    reader.Update()
    geometry = vtkCompositeDataGeometryFilter()
    geometry.SetInputData(reader.GetOutput())
    geometry.Update()
    to_lps = vtkTransform()  # glTF (x = L, y = S, z = A; m) → LPS mm: L = x, P = −z, S = y
    to_lps.SetMatrix([1000.0, 0, 0, 0, 0, 0, -1000.0, 0, 0, 1000.0, 0, 0, 0, 0, 0, 1])
    moved = vtkTransformFilter()
    moved.SetTransform(to_lps)
    moved.SetInputData(geometry.GetOutput())
    moved.Update()
    return moved.GetOutput()


def render(slice_img: vtkImageData, z: float, poly, colour, title: str, out: Path) -> None:  # type: ignore[no-untyped-def]
    ren = vtkRenderer()
    ren.SetBackground(0.08, 0.08, 0.12)
    actor = vtkImageActor()
    actor.GetMapper().SetInputData(slice_img)
    ren.AddActor(actor)
    plane = vtkPlane()
    plane.SetOrigin(0, 0, z)
    plane.SetNormal(0, 0, 1)
    cut = vtkCutter()
    cut.SetInputData(poly)
    cut.SetCutFunction(plane)
    mapper = vtkPolyDataMapper()
    mapper.SetInputConnection(cut.GetOutputPort())
    lines = vtkActor()
    lines.SetMapper(mapper)
    lines.GetProperty().SetColor(*colour)
    lines.GetProperty().SetLineWidth(2.5)
    lines.SetPosition(0, 0, 0.5)
    ren.AddActor(lines)
    text = vtkTextActor()
    text.SetInput(title)
    text.GetTextProperty().SetFontSize(16)
    text.SetPosition(10, 10)
    ren.AddViewProp(text)
    window = vtkRenderWindow()
    window.SetOffScreenRendering(True)
    window.SetSize(640, 700)
    window.AddRenderer(ren)
    centre = slice_img.GetCenter()
    cam = ren.GetActiveCamera()
    cam.SetFocalPoint(*centre)
    cam.SetPosition(centre[0], centre[1], centre[2] + 500)
    cam.SetViewUp(0, -1, 0)  # anterior (−P) up, as a radiologist looks from the feet
    ren.ResetCamera()
    window.Render()
    grab = vtkWindowToImageFilter()
    grab.SetInput(window)
    grab.Update()
    writer = vtkPNGWriter()
    writer.SetFileName(str(out))
    writer.SetInputData(grab.GetOutput())
    writer.Write()
    print("wrote", out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    args = ap.parse_args()
    from headtwin_app.core.phantom import sample_case_dir

    case = sample_case_dir()
    headtwin = [sys.executable, "-m", "headtwin_app.cli.main"]
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        subprocess.run([*headtwin, "mesh", "--labels", str(case / "labels.nii.gz"), "--out",
                        str(t / "stl")], check=True, capture_output=True)
        subprocess.run([*headtwin, "mesh", "--labels", str(case / "labels.nii.gz"), "--out",
                        str(t / "glb"), "--format", "glb", "--single-file"], check=True,
                       capture_output=True)
        k = 95  # an axial slice through the orbits, the skull and the temporal muscles
        slice_img, z = image_slice(case / "image.nii.gz", k)
        stls = vtkAppendPolyData()
        for name in ("1_skull", "8_eyeballs", "4_temporalis"):
            stls.AddInputData(read_stl(t / "stl" / f"{name}.stl"))
        stls.Update()
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        render(slice_img, z, stls.GetOutput(), (1.0, 0.25, 0.25),
               "STL (SPACE=LPS) read by vtkSTLReader over the image read by SimpleITK",
               out / "export_stl_lps.png")
        render(slice_img, z, read_glb_as_lps(t / "glb" / "twin.glb"), (0.3, 1.0, 0.3),
               "GLB (metres, +Y superior) read by vtkGLTFReader, mapped to LPS",
               out / "export_glb.png")


if __name__ == "__main__":
    main()
