"""Screenshots of the labelling workspace's new tools in the app, on the built-in sample head.

    xvfb-run -a python scripts/labelling_screenshot.py [--out-dir docs/screenshots]

1. `labelling_review.png`: 2×2 layout, a proposal of the built-in model made with uncertainty
   (the heat map on, the review list most uncertain first).
2. `labelling_grow.png`: seed scribbles for the eyeballs (and a background ring) on one axial
   slice and the Grow-from-seeds preview (outlines) before it is accepted.
Everything shown is computed by the app; nothing is drawn by hand.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def wait(app, until, seconds: float = 900.0) -> None:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    while not until() and time.perf_counter() - t0 < seconds:
        app.processEvents()
        time.sleep(0.02)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out-dir", default="docs/screenshots")
    ap.add_argument("--only", choices=("review", "grow"), help="make one of the two")
    args = ap.parse_args()
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from headtwin_app.core.phantom import sample_case_dir
    from headtwin_app.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    settings = QSettings(str(Path(tempfile.mkdtemp()) / "s.ini"), QSettings.Format.IniFormat)
    win = MainWindow(settings)
    win.resize(1600, 980)
    win.show()
    win.open_path(sample_case_dir())
    wait(app, lambda: win.state.case is not None and not win.jobs.is_busy, 120)
    ws = win.workspaces["labelling"]
    win.tabs.setCurrentWidget(ws)
    ws.set_layout("grid")
    out = Path(args.out_dir).resolve()  # something on the way changes the working folder
    out.mkdir(parents=True, exist_ok=True)
    if args.only != "grow":
        review(app, win, ws, out / "labelling_review.png")
    if args.only != "review":
        grow(app, win, ws, out / "labelling_grow.png")
    win.close()


def save(win, path: Path) -> None:  # type: ignore[no-untyped-def]
    pix = win.grab()
    if not pix.save(str(path)):
        print("pixmap", pix.size(), pix.isNull(), win.isVisible(), flush=True)
        raise SystemExit(f"could not write {path}")
    print(path, flush=True)


def review(app, win, ws, path: Path) -> None:  # type: ignore[no-untyped-def]
    ws.with_uncertainty.setChecked(True)
    t0 = time.perf_counter()
    ws.request_proposal()
    wait(app, lambda: ws._proposal_worker is None)
    print(f"proposal with uncertainty: {time.perf_counter() - t0:.0f} s", flush=True)
    ws.heat_box.setChecked(True)
    ws.side_tabs.setCurrentIndex(1)
    eyes = np.argwhere(ws.session.proposal == 8)
    if len(eyes):
        ws.viewer.set_position(tuple(int(v) for v in eyes.mean(0)))
    wait(app, lambda: False, 1.0)
    save(win, path)


def grow(app, win, ws, path: Path) -> None:  # type: ignore[no-untyped-def]
    from scipy import ndimage

    from headtwin_app.core.labelmap import load_label_map
    from headtwin_app.core.phantom import sample_case_dir

    # short scribbles inside each eyeball, a ring of background around them
    ws.heat_box.setChecked(False)
    ws.draft_box.setChecked(False)
    ws.overlay_box.setChecked(False)  # the preview's outlines over the image alone
    ws.side_tabs.setCurrentIndex(0)
    truth = load_label_map(sample_case_dir() / "labels.nii.gz").data
    s = ws.session
    z = int(np.argwhere(truth == 8)[:, 2].mean())
    seeds = np.zeros(s.labels.shape, np.int16)
    eye = (truth[:, :, z] == 8)
    core = ndimage.binary_erosion(eye, iterations=4)
    pts = np.argwhere(core)
    for x, y in pts[:: max(1, len(pts) // 12)]:
        seeds[x, y, z] = 8
    ring = ndimage.binary_dilation(eye, iterations=6) & ~ndimage.binary_dilation(eye, iterations=4)
    seeds[:, :, z][ring] = 255
    s.seeds = seeds
    ws.set_tool("seed")
    ws.choose_label(8)
    ws._show_seeds()
    ws.viewer.set_position((int(pts[:, 0].mean()), int(pts[:, 1].mean()), z))
    from headtwin_app.core.edit.case_editor import preload_tools

    preload_tools()  # as the window's idle preload does: the shown time is the grow's own
    ws.grow()
    axial = ws.viewer.views["axial"]  # zoom the axial view onto the eyes
    sx, sy = axial._scale
    cx, cy = pts[:, 0].mean(), pts[:, 1].mean()
    axial.view.setRange(xRange=((cx - 45) * sx, (cx + 45) * sx),
                        yRange=((cy - 35) * sy, (cy + 35) * sy), padding=0)
    wait(app, lambda: False, 1.0)
    save(win, path)


if __name__ == "__main__":
    main()
