"""The 3D twin scene: structure actors, slice planes, clipping, ruler, orientation marker, views.

A `TwinScene` owns three renderers: the scene (layer 0), an overlay sharing its camera for the
ruler (layer 1, drawn over the surfaces) and a small orientation cube (layer 2) whose camera
follows the scene camera. Put them into any render window (`scene.renderers()`, window layers =
`scene.layers`): the Qt widget's or an offscreen one. Structures are keyed by label id; their
group, layer, colour and opacity come from the label table. Brain structures are shown one layer
at a time (tissue, regions or hemispheres); twin structures (craniofacial, CNS) always are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import vtkmodules.vtkRenderingFreeType  # noqa: F401  (text rendering)
import vtkmodules.vtkRenderingOpenGL2  # noqa: F401  (OpenGL back end)
from vtkmodules.util import numpy_support as ns
from vtkmodules.vtkCommonCore import vtkCommand
from vtkmodules.vtkCommonDataModel import vtkImageData, vtkPlane, vtkPolyData
from vtkmodules.vtkCommonMath import vtkMatrix4x4
from vtkmodules.vtkFiltersCore import vtkPolyDataNormals, vtkQuadricClustering
from vtkmodules.vtkFiltersSources import vtkLineSource
from vtkmodules.vtkRenderingAnnotation import vtkAnnotatedCubeActor
from vtkmodules.vtkRenderingCore import (
    vtkActor,
    vtkBillboardTextActor3D,
    vtkImageActor,
    vtkLightKit,
    vtkPolyDataMapper,
    vtkRenderer,
)

from headtwin_app.core.display import auto_window
from headtwin_app.core.labels import Label, LabelTable, default_label_table
from headtwin_app.core.volume import Volume
from headtwin_app.render.mesh import StructureMesh

BRAIN_LAYERS = ("tissue", "regions", "hemispheres")
SLICE_AXES = ("sagittal", "coronal", "axial")  # voxel axes 0, 1, 2 of a RAS+ volume
PRESETS = ("bone", "muscles", "brain", "all")
BONE = ("skull", "mandible", "cervical_vertebrae")
MUSCLES = ("temporalis", "masseter", "medial_pterygoid", "lateral_pterygoid")

# Camera direction (from focal point towards the eye) and view-up, in RAS world coordinates.
VIEWS: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "anterior": ((0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),
    "posterior": ((0.0, -1.0, 0.0), (0.0, 0.0, 1.0)),
    "lateral": ((-1.0, 0.0, 0.0), (0.0, 0.0, 1.0)),  # from the patient's left
    "right": ((1.0, 0.0, 0.0), (0.0, 0.0, 1.0)),
    "superior": ((0.0, 0.0, 1.0), (0.0, 1.0, 0.0)),
    "inferior": ((0.0, 0.0, -1.0), (0.0, 1.0, 0.0)),
}

# vtkImageData built from a C-ordered (X, Y, Z) array has VTK axes (Z, Y, X): swap them back.
_REVERSE_AXES = np.array([[0, 0, 1, 0], [0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]], dtype=float)


def _matrix(m: np.ndarray) -> vtkMatrix4x4:
    out = vtkMatrix4x4()
    for i in range(4):
        for j in range(4):
            out.SetElement(i, j, float(m[i, j]))
    return out


def _label_for(table: LabelTable, label_id: int) -> Label:
    if label_id in table:
        return table[label_id]
    rng = np.random.default_rng(label_id)
    rgb = tuple(int(c) for c in rng.integers(60, 255, 3))
    return Label(label_id, f"label_{label_id}", "craniofacial", "twin", rgb, 1.0)  # type: ignore


LOD_MIN_TRIANGLES = 40_000


def make_lod(polydata: vtkPolyData, cell_mm: float = 3.0) -> vtkPolyData | None:
    """A coarse copy of a big mesh for use while the camera moves (quadric clustering on a
    `cell_mm` grid, fast enough to run per structure); None for meshes already small."""
    if polydata.GetNumberOfCells() < LOD_MIN_TRIANGLES:
        return None
    b = polydata.GetBounds()
    divisions = [max(2, int((b[2 * i + 1] - b[2 * i]) / cell_mm)) for i in range(3)]
    cluster = vtkQuadricClustering()
    cluster.SetInputData(polydata)
    cluster.AutoAdjustNumberOfDivisionsOff()
    cluster.SetNumberOfDivisions(*divisions)
    normals = vtkPolyDataNormals()
    normals.SetInputConnection(cluster.GetOutputPort())
    normals.SplittingOff()
    normals.ConsistencyOff()
    normals.Update()
    return normals.GetOutput()


class TwinScene:
    """Structure actors and viewing aids for one head twin."""

    def __init__(self, table: LabelTable | None = None):
        self.table = table or default_label_table()
        self.renderer = vtkRenderer()
        self.renderer.SetBackground(0.09, 0.10, 0.13)
        self.renderer.SetBackground2(0.28, 0.31, 0.37)
        self.renderer.GradientBackgroundOn()
        self.renderer.SetUseDepthPeeling(True)
        self.renderer.SetMaximumNumberOfPeels(6)
        self.renderer.SetOcclusionRatio(0.05)
        self.renderer.RemoveAllLights()
        kit = vtkLightKit()
        kit.SetKeyLightIntensity(0.9)
        kit.AddLightsToRenderer(self.renderer)
        self.renderer.SetTwoSidedLighting(True)
        self.brain_layer = "tissue"
        self._actors: dict[int, vtkActor] = {}
        self._mappers: dict[int, tuple[vtkPolyDataMapper, vtkPolyDataMapper | None]] = {}
        self.lod_active = False
        self._labels: dict[int, Label] = {}
        self._wanted: dict[int, bool] = {}  # the user's visibility choice per structure
        self._clip: vtkPlane | None = None
        self._slices: dict[str, vtkImageActor] = {}
        self._slice_index: dict[str, int] = {}
        self._image_shape: tuple[int, int, int] | None = None
        self._ruler: tuple[vtkActor, vtkBillboardTextActor3D] | None = None
        self.ruler_mm: float | None = None
        self.overlay = vtkRenderer()
        self.overlay.SetLayer(1)
        self.overlay.SetActiveCamera(self.renderer.GetActiveCamera())
        self.overlay.InteractiveOff()
        self._marker = self._make_marker()
        self.renderer.AddObserver(vtkCommand.StartEvent, self._sync_marker)

    # ----- renderers -----
    layers = 3

    def renderers(self) -> list[vtkRenderer]:
        """Scene (layer 0), ruler overlay (layer 1) and orientation marker (layer 2)."""
        return [self.renderer, self.overlay, self._marker]

    def _make_marker(self) -> vtkRenderer:
        cube = vtkAnnotatedCubeActor()
        for face, text in (("XPlus", "R"), ("XMinus", "L"), ("YPlus", "A"), ("YMinus", "P"),
                           ("ZPlus", "S"), ("ZMinus", "I")):
            getattr(cube, f"Set{face}FaceText")(text)
        cube.SetFaceTextScale(0.6)
        cube.SetZFaceTextRotation(90)  # "S" upright in the superior view (anterior up)
        cube.GetCubeProperty().SetColor(0.75, 0.78, 0.85)
        cube.GetTextEdgesProperty().SetColor(0.2, 0.2, 0.2)
        for prop in (cube.GetXPlusFaceProperty(), cube.GetXMinusFaceProperty()):
            prop.SetColor(0.85, 0.25, 0.25)
        for prop in (cube.GetYPlusFaceProperty(), cube.GetYMinusFaceProperty()):
            prop.SetColor(0.25, 0.7, 0.3)
        for prop in (cube.GetZPlusFaceProperty(), cube.GetZMinusFaceProperty()):
            prop.SetColor(0.25, 0.4, 0.9)
        marker = vtkRenderer()
        marker.SetLayer(2)
        marker.SetViewport(0.0, 0.0, 0.16, 0.16)
        marker.InteractiveOff()
        marker.AddActor(cube)
        marker.ResetCamera()
        return marker

    def _sync_marker(self, *_: object) -> None:
        cam = self.renderer.GetActiveCamera()
        mcam = self._marker.GetActiveCamera()
        dop = np.asarray(cam.GetDirectionOfProjection())
        mcam.SetFocalPoint(0.0, 0.0, 0.0)
        mcam.SetPosition(*(-dop * 4.0))
        mcam.SetViewUp(*cam.GetViewUp())
        self._marker.ResetCameraClippingRange()

    # ----- structures -----
    def label(self, label_id: int) -> Label:
        return self._labels.get(int(label_id)) or _label_for(self.table, int(label_id))

    def add_mesh(self, label_id: int, mesh: StructureMesh | vtkPolyData,
                 lod: vtkPolyData | None = None) -> vtkActor:
        """Show (or replace) the surface of one structure, styled from the label table.
        `lod`: an optional coarse copy drawn while the camera moves (see `make_lod`)."""
        label_id = int(label_id)
        pd = mesh.polydata if isinstance(mesh, StructureMesh) else mesh
        lab = self.label(label_id)
        actor = self._actors.get(label_id)
        if actor is None:
            actor = vtkActor()
            prop = actor.GetProperty()
            prop.SetInterpolationToPhong()
            prop.SetAmbient(0.08)
            prop.SetDiffuse(0.85)
            prop.SetSpecular(0.25)
            prop.SetSpecularPower(30.0)
            prop.SetColor(*(c / 255.0 for c in lab.rgb))
            prop.SetOpacity(lab.opacity)
            self._actors[label_id] = actor
            self._labels[label_id] = lab
            self._wanted.setdefault(label_id, lab.visible)
            self.renderer.AddActor(actor)
        full = self._new_mapper(pd)
        coarse = self._new_mapper(lod) if lod is not None else None
        self._mappers[label_id] = (full, coarse)
        actor.SetMapper(coarse if self.lod_active and coarse is not None else full)
        self._apply_visibility(label_id)
        return actor

    def _new_mapper(self, pd: vtkPolyData) -> vtkPolyDataMapper:
        mapper = vtkPolyDataMapper()
        mapper.ScalarVisibilityOff()
        mapper.SetInputData(pd)
        if self._clip is not None:
            mapper.AddClippingPlane(self._clip)
        return mapper

    def _all_mappers(self) -> list[vtkPolyDataMapper]:
        return [m for pair in self._mappers.values() for m in pair if m is not None]

    def set_lod(self, on: bool) -> None:
        """Draw the coarse copies without depth peeling (while the camera moves: about 5× less
        work for software GL) or the full meshes with depth-peeled transparency."""
        self.lod_active = bool(on)
        self.renderer.SetUseDepthPeeling(not on)
        for lid, (full, coarse) in self._mappers.items():
            self._actors[lid].SetMapper(coarse if on and coarse is not None else full)

    def polydata(self, label_id: int) -> vtkPolyData | None:
        """The full-resolution mesh shown for a structure."""
        pair = self._mappers.get(int(label_id))
        return pair[0].GetInput() if pair else None

    def add_meshes(self, meshes: Mapping[int, StructureMesh | vtkPolyData]) -> None:
        for lid, mesh in meshes.items():
            self.add_mesh(lid, mesh)

    def remove(self, label_id: int) -> None:
        actor = self._actors.pop(int(label_id), None)
        self._mappers.pop(int(label_id), None)
        if actor is not None:
            self.renderer.RemoveActor(actor)
        self._labels.pop(int(label_id), None)

    def clear(self) -> None:
        for lid in list(self._actors):
            self.remove(lid)

    def actor(self, label_id: int) -> vtkActor | None:
        return self._actors.get(int(label_id))

    def label_ids(self) -> list[int]:
        return sorted(self._actors)

    def layer_of(self, label_id: int) -> str:
        return self.label(label_id).layer

    # ----- visibility, colour, opacity -----
    def _eligible(self, label_id: int) -> bool:
        layer = self.layer_of(label_id)
        return layer not in BRAIN_LAYERS or layer == self.brain_layer

    def _apply_visibility(self, label_id: int) -> None:
        actor = self._actors[label_id]
        actor.SetVisibility(bool(self._wanted.get(label_id, True) and self._eligible(label_id)))

    def set_visible(self, label_id: int, visible: bool) -> None:
        label_id = int(label_id)
        self._wanted[label_id] = bool(visible)
        if label_id in self._actors:
            self._apply_visibility(label_id)

    def is_wanted(self, label_id: int) -> bool:
        """The visibility the user chose (a brain structure may still be hidden by the layer)."""
        return self._wanted.get(int(label_id), True)

    def is_visible(self, label_id: int) -> bool:
        actor = self._actors.get(int(label_id))
        return bool(actor is not None and actor.GetVisibility())

    def visible_ids(self) -> list[int]:
        return [lid for lid in self.label_ids() if self.is_visible(lid)]

    def set_group_visible(self, group: str, visible: bool) -> None:
        for lid in self.label_ids():
            if self.label(lid).group == group:
                self.set_visible(lid, visible)

    def set_opacity(self, label_id: int, opacity: float) -> None:
        if not 0.0 <= opacity <= 1.0:
            raise ValueError(f"opacity must be in [0, 1], got {opacity}")
        actor = self._actors.get(int(label_id))
        if actor is not None:
            actor.GetProperty().SetOpacity(float(opacity))

    def opacity(self, label_id: int) -> float:
        actor = self._actors.get(int(label_id))
        return float(actor.GetProperty().GetOpacity()) if actor else self.label(label_id).opacity

    def set_colour(self, label_id: int, rgb: Sequence[int]) -> None:
        if len(rgb) != 3 or any(not 0 <= c <= 255 for c in rgb):
            raise ValueError(f"colour must be three values 0-255, got {tuple(rgb)}")
        actor = self._actors.get(int(label_id))
        if actor is not None:
            actor.GetProperty().SetColor(*(c / 255.0 for c in rgb))

    def colour(self, label_id: int) -> tuple[int, int, int]:
        actor = self._actors.get(int(label_id))
        if actor is None:
            return self.label(label_id).rgb
        return tuple(int(round(c * 255)) for c in actor.GetProperty().GetColor())  # type: ignore

    def set_brain_layer(self, layer: str) -> None:
        """Show the brain as "tissue", "regions" or "hemispheres"."""
        if layer not in BRAIN_LAYERS:
            raise ValueError(f"brain layer must be one of {BRAIN_LAYERS}, got '{layer}'")
        self.brain_layer = layer
        for lid in self.label_ids():
            self._apply_visibility(lid)

    def apply_preset(self, name: str) -> None:
        """"bone" (skull, mandible, vertebrae), "muscles" (the four masticatory muscles over the
        bone), "brain" (the current brain layer) or "all"."""
        if name not in PRESETS:
            raise ValueError(f"preset must be one of {PRESETS}, got '{name}'")
        for lid in self.label_ids():
            lab = self.label(lid)
            if name == "all":
                show = True
            elif name == "bone":
                show = lab.name in BONE
            elif name == "muscles":
                show = lab.name in MUSCLES or lab.name in ("skull", "mandible")
            else:
                show = lab.group == "brain"
            self.set_visible(lid, show)

    # ----- clipping -----
    def set_clip_plane(self, origin: Sequence[float] | None,
                       normal: Sequence[float] = (1.0, 0.0, 0.0)) -> None:
        """Cut all structures with a plane (keeping the side the normal points to); None: no cut."""
        for mapper in self._all_mappers():
            mapper.RemoveAllClippingPlanes()
        if origin is None:
            self._clip = None
            return
        n = np.asarray(normal, dtype=float)
        if n.shape != (3,) or not np.linalg.norm(n) > 0:
            raise ValueError(f"clip normal must be a non-zero 3-vector, got {tuple(normal)}")
        plane = vtkPlane()
        plane.SetOrigin(*(float(v) for v in origin))
        plane.SetNormal(*(n / np.linalg.norm(n)))
        self._clip = plane
        for mapper in self._all_mappers():
            mapper.AddClippingPlane(plane)

    def clip_axis(self, axis: str, fraction: float, keep_positive: bool = True) -> None:
        """Clip across world axis "x" (R), "y" (A) or "z" (S) at `fraction` (0-1) of the bounds."""
        k = "xyz".index(axis) if axis in ("x", "y", "z") else -1
        if k < 0:
            raise ValueError(f"clip axis must be x, y or z, got '{axis}'")
        b = self.bounds()
        origin = [(b[0] + b[1]) / 2, (b[2] + b[3]) / 2, (b[4] + b[5]) / 2]
        origin[k] = b[2 * k] + float(np.clip(fraction, 0.0, 1.0)) * (b[2 * k + 1] - b[2 * k])
        normal = [0.0, 0.0, 0.0]
        normal[k] = 1.0 if keep_positive else -1.0
        self.set_clip_plane(origin, normal)

    @property
    def clip_plane(self) -> vtkPlane | None:
        return self._clip

    # ----- slice planes -----
    def set_image(self, image: Volume | None) -> None:
        """Use `image` for the three slice planes (placed through its full affine)."""
        for actor in self._slices.values():
            self.renderer.RemoveViewProp(actor)
        self._slices.clear()
        self._image_shape = None
        if image is None:
            return
        data = np.ascontiguousarray(image.data, dtype=np.float32)
        vtk_image = vtkImageData()
        vtk_image.SetDimensions(*data.shape[::-1])  # VTK x runs along array axis 2
        flat = data.ravel()
        vtk_image.GetPointData().SetScalars(ns.numpy_to_vtk(flat, deep=True))
        lo, hi = auto_window(data)
        matrix = _matrix(image.affine @ _REVERSE_AXES)
        self._image_shape = image.shape
        for axis in SLICE_AXES:
            actor = vtkImageActor()
            actor.GetMapper().SetInputData(vtk_image)
            actor.GetProperty().SetColorWindow(hi - lo)
            actor.GetProperty().SetColorLevel((hi + lo) / 2)
            actor.GetProperty().SetInterpolationTypeToLinear()
            actor.SetUserMatrix(matrix)
            actor.SetVisibility(False)
            self._slices[axis] = actor
            self.renderer.AddViewProp(actor)
            k = SLICE_AXES.index(axis)
            self.set_slice(axis, self._slice_index.get(axis, image.shape[k] // 2))

    def set_slice(self, axis: str, index: int) -> None:
        """Move one slice plane ("sagittal", "coronal", "axial") to voxel `index`."""
        if axis not in SLICE_AXES:
            raise ValueError(f"slice axis must be one of {SLICE_AXES}, got '{axis}'")
        if self._image_shape is None:
            raise ValueError("no image: call set_image first")
        k = SLICE_AXES.index(axis)
        index = int(np.clip(index, 0, self._image_shape[k] - 1))
        self._slice_index[axis] = index
        ext = [0, self._image_shape[2] - 1, 0, self._image_shape[1] - 1,
               0, self._image_shape[0] - 1]
        v = 2 - k  # VTK axis of voxel axis k
        ext[2 * v] = ext[2 * v + 1] = index
        self._slices[axis].SetDisplayExtent(*ext)

    def show_slices(self, visible: bool, axes: Sequence[str] = SLICE_AXES) -> None:
        for axis in axes:
            if axis in self._slices:
                self._slices[axis].SetVisibility(bool(visible))

    @property
    def has_image(self) -> bool:
        return self._image_shape is not None

    def slices_visible(self) -> bool:
        return any(a.GetVisibility() for a in self._slices.values())

    # ----- ruler -----
    def set_ruler(self, p1: Sequence[float], p2: Sequence[float]) -> float:
        """Draw a line between two world points with its length; returns the length in mm."""
        self.clear_ruler()
        a, b = np.asarray(p1, dtype=float), np.asarray(p2, dtype=float)
        length = float(np.linalg.norm(b - a))
        line = vtkLineSource()
        line.SetPoint1(*a)
        line.SetPoint2(*b)
        actor = vtkActor()
        mapper = vtkPolyDataMapper()
        mapper.SetInputConnection(line.GetOutputPort())
        actor.SetMapper(mapper)
        actor.GetProperty().SetColor(1.0, 0.9, 0.1)
        actor.GetProperty().SetLineWidth(3.0)
        actor.GetProperty().LightingOff()
        text = vtkBillboardTextActor3D()
        text.SetInput(f"{length:.1f} mm")
        text.SetPosition(*((a + b) / 2))
        text.GetTextProperty().SetFontSize(20)
        text.GetTextProperty().SetColor(1.0, 0.95, 0.3)
        text.GetTextProperty().BoldOn()
        text.GetTextProperty().ShadowOn()
        self.overlay.AddActor(actor)  # drawn over the surfaces, so it is never hidden
        self.overlay.AddActor(text)
        self._ruler = (actor, text)
        self.ruler_mm = length
        return length

    def clear_ruler(self) -> None:
        if self._ruler is not None:
            for prop in self._ruler:
                self.overlay.RemoveActor(prop)
        self._ruler = None
        self.ruler_mm = None

    # ----- camera -----
    def bounds(self) -> tuple[float, float, float, float, float, float]:
        """World bounds of the visible structures (all structures when none is visible)."""
        ids = self.visible_ids() or self.label_ids()
        if not ids:
            return (-100.0, 100.0, -100.0, 100.0, -100.0, 100.0)
        b = np.array([self._mappers[i][0].GetInput().GetBounds() for i in ids])
        return (b[:, 0].min(), b[:, 1].max(), b[:, 2].min(), b[:, 3].max(),
                b[:, 4].min(), b[:, 5].max())

    def set_view(self, name: str) -> None:
        """Look at the twin from "anterior", "lateral" (left), "superior" (or posterior, right,
        inferior), framing the visible structures."""
        if name not in VIEWS:
            raise ValueError(f"view must be one of {tuple(VIEWS)}, got '{name}'")
        direction, up = VIEWS[name]
        b = np.asarray(self.bounds())
        centre = (b[0::2] + b[1::2]) / 2
        radius = max(float(np.linalg.norm(b[1::2] - b[0::2])) / 2, 1.0)
        cam = self.renderer.GetActiveCamera()
        cam.SetFocalPoint(*centre)
        cam.SetPosition(*(centre + np.asarray(direction) * radius * 4.0))
        cam.SetViewUp(*up)
        cam.SetViewAngle(30.0)
        self.renderer.ResetCamera(*b)
        cam.Zoom(1.25)
        self.renderer.ResetCameraClippingRange()

    def reset_camera(self) -> None:
        self.set_view("anterior")

    def azimuth(self, degrees: float) -> None:
        """Rotate the camera about the view-up axis (used for turntables and benchmarks)."""
        self.renderer.GetActiveCamera().Azimuth(float(degrees))
        self.renderer.ResetCameraClippingRange()
