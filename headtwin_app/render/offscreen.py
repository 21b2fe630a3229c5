"""Render without Qt and without a display: PNG snapshots for the command line and tests.

What works on these machines (VTK 9.7 PyPI wheel, Mesa 22): with no X display,
`vtkEGLRenderWindow` (Mesa's EGL on the llvmpipe software rasteriser) renders offscreen;
`vtkOSOpenGLRenderWindow` (OSMesa) works as well. A plain `vtkRenderWindow()` would try X first,
log "bad X server connection" and then fall back to EGL by itself; we pick the class directly.
`VTK_DEFAULT_OPENGL_WINDOW=vtkOSOpenGLRenderWindow` (or any class name) overrides the choice.
With a display (Xvfb or a desktop) the ordinary X window class renders into offscreen buffers.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import vtkmodules.vtkRenderingOpenGL2  # noqa: F401  (registers the OpenGL window classes)
from vtkmodules.util import numpy_support as ns
from vtkmodules.vtkIOImage import vtkPNGWriter
from vtkmodules.vtkRenderingCore import vtkRenderer, vtkRenderWindow, vtkWindowToImageFilter

_HEADLESS_CLASSES = ("vtkEGLRenderWindow", "vtkOSOpenGLRenderWindow")



def window_class_name() -> str:
    """The render-window class `new_render_window` will create here."""
    chosen = os.environ.get("VTK_DEFAULT_OPENGL_WINDOW")
    if chosen:
        return chosen
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return "vtkRenderWindow"
    return _HEADLESS_CLASSES[0]


def new_render_window(size: tuple[int, int] = (800, 800)) -> vtkRenderWindow:
    """An offscreen render window of `size` (width, height) pixels that needs no X display."""
    name = window_class_name()
    if name == "vtkRenderWindow":
        window = vtkRenderWindow()
    else:
        import vtkmodules.vtkRenderingOpenGL2 as gl

        cls = getattr(gl, name, None)
        if cls is None:
            raise ValueError(f"VTK_DEFAULT_OPENGL_WINDOW={name}: no such render window class")
        window = cls()
    window.SetOffScreenRendering(True)
    window.SetSize(int(size[0]), int(size[1]))
    window.SetMultiSamples(0)
    window.SetAlphaBitPlanes(1)
    return window


def capture(window: vtkRenderWindow) -> np.ndarray:
    """Render and read the window back as an (H, W, 3) uint8 array, top row first."""
    window.Render()
    grab = vtkWindowToImageFilter()
    grab.SetInput(window)
    grab.SetInputBufferTypeToRGB()
    grab.ReadFrontBufferOff()
    grab.Update()
    image = grab.GetOutput()
    w, h, _ = image.GetDimensions()
    arr = ns.vtk_to_numpy(image.GetPointData().GetScalars()).reshape(h, w, -1)
    return np.ascontiguousarray(arr[::-1, :, :3])


def render_to_array(renderers: vtkRenderer | list[vtkRenderer],
                    size: tuple[int, int] = (800, 800)) -> np.ndarray:
    """Render one or more renderers (layers, e.g. a scene and its orientation marker) offscreen."""
    window = new_render_window(size)
    layers = renderers if isinstance(renderers, list) else [renderers]
    window.SetNumberOfLayers(max(r.GetLayer() for r in layers) + 1)
    for r in layers:
        window.AddRenderer(r)
    try:
        return capture(window)
    finally:
        for r in layers:
            window.RemoveRenderer(r)
        window.Finalize()


PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg")


def check_picture_suffix(path: str | os.PathLike[str]) -> str:
    """The picture format from the suffix (.png, .jpg/.jpeg), or a clear error: the file type
    always follows the suffix."""
    from headtwin_app.core.errors import OutputError

    suffix = Path(path).suffix.lower()
    if suffix not in PICTURE_SUFFIXES:
        raise OutputError(f"{path}: cannot write '{suffix or Path(path).name}' pictures (use "
                          f"{', '.join(PICTURE_SUFFIXES)})")
    return suffix


def save_picture(rgb: np.ndarray, path: str | os.PathLike[str]) -> Path:
    """Write an (H, W, 3) uint8 array as PNG or JPEG (by suffix), atomically."""
    from vtkmodules.vtkCommonDataModel import vtkImageData
    from vtkmodules.vtkIOImage import vtkJPEGWriter

    from headtwin_app.core.atomic import atomic_output
    from headtwin_app.core.errors import OutputError, stderr_to_log

    p = Path(path)
    jpeg = check_picture_suffix(p) != ".png"
    h, w = rgb.shape[:2]
    image = vtkImageData()
    image.SetDimensions(w, h, 1)
    flat = np.ascontiguousarray(rgb[::-1, :, :3]).reshape(-1, 3)
    image.GetPointData().SetScalars(ns.numpy_to_vtk(flat, deep=True))
    writer = vtkJPEGWriter() if jpeg else vtkPNGWriter()
    if jpeg:
        writer.SetQuality(95)
    writer.SetInputData(image)
    with atomic_output(p) as tmp, stderr_to_log():  # libpng reports write errors on stderr
        writer.SetFileName(str(tmp))
        writer.Write()
        if writer.GetErrorCode() != 0 or not tmp.is_file() or tmp.stat().st_size == 0:
            raise OutputError(f"{p}: could not write the picture (disk full or not writable)")
    return p

