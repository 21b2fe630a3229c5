"""The five workspaces, in tab order, each built from its module or a placeholder until it lands."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtWidgets import QWidget

from headtwin_app.ui.placeholder import PlaceholderWorkspace
from headtwin_app.ui.state import AppState


@dataclass(frozen=True)
class WorkspaceSpec:
    key: str  # used by --tab and settings
    title: str  # the tab's text
    module: str
    cls: str
    coming: str  # what the placeholder says while the module is not there
    own_views: bool = False  # shows the case in its own three views: the case dock is hidden


WORKSPACES = (
    WorkspaceSpec("designer", "K-space designer", "headtwin_app.ui.designer", "DesignerWorkspace",
                  "design undersampling masks and see aliasing, scan time and PSNR/SSIM live."),
    WorkspaceSpec("recon", "Reconstruction", "headtwin_app.ui.recon", "ReconWorkspace",
                  "zero-filled, compressed-sensing and deep-cascade CNN reconstruction of the "
                  "designer's undersampled k-space, on GPU when there is one."),
    WorkspaceSpec("labelling", "Labelling", "headtwin_app.ui.labelling", "LabellingWorkspace",
                  "three-stage annotation: manual brush tools, nnU-Net proposals to review, "
                  "then automatic labelling of new cases.", own_views=True),
    WorkspaceSpec("twin", "3D twin", "headtwin_app.ui.twin", "TwinWorkspace",
                  "fused craniofacial, CNS and brain meshes in a 3D view; clip, measure, export."),
    WorkspaceSpec("cardiac", "Cardiac twin", "headtwin_app.ui.cardiac", "CardiacWorkspace",
                  "synthetic cardiac cines with known velocities: interpolation, phase "
                  "synthesis and velocity curves (HDL paper).", own_views=True),
)


def build_workspace(spec: WorkspaceSpec, state: AppState) -> QWidget:
    """Instantiate the workspace class; a placeholder when its module does not exist yet."""
    factory: Callable[..., QWidget]
    try:
        factory = getattr(importlib.import_module(spec.module), spec.cls)
    except ModuleNotFoundError as exc:
        if exc.name != spec.module:
            raise
        return PlaceholderWorkspace(state, spec.title, "coming: " + spec.coming)
    return factory(state)


def find_spec(key: str) -> WorkspaceSpec:
    for spec in WORKSPACES:
        if key in (spec.key, spec.title.lower()):
            return spec
    names = ", ".join(s.key for s in WORKSPACES)
    raise ValueError(f"unknown tab '{key}' (choose from {names})")
