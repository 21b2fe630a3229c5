"""Screenshot of a built-in proposal on the real head MR the wheels ship (nilearn's MNI
ICBM152 2009 T1, brain-masked), in the labelling workspace with its plausibility verdict.

    xvfb-run -a python scripts/real_head_screenshot.py [--out PNG]

Everything shown is computed by the app (proposal, per-structure scores, plausibility flags).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from labelling_screenshot import save, wait  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="docs/screenshots/labelling_real_mni.png")
    args = ap.parse_args()
    out = Path(args.out).resolve()
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from headtwin_app.core.bundled import mni_file
    from headtwin_app.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    settings = QSettings(str(Path(tempfile.mkdtemp()) / "s.ini"), QSettings.Format.IniFormat)
    win = MainWindow(settings)
    win.resize(1600, 980)
    win.show()
    win.open_path(mni_file("t1"))
    wait(app, lambda: win.state.case is not None and not win.jobs.is_busy, 120)
    ws = win.workspaces["labelling"]
    win.tabs.setCurrentWidget(ws)
    ws.set_layout("grid")
    t0 = time.perf_counter()
    ws.request_proposal()
    wait(app, lambda: ws._proposal_worker is None)
    print(f"proposal: {time.perf_counter() - t0:.0f} s", flush=True)
    ws.side_tabs.setCurrentIndex(1)
    eyes = np.argwhere(ws.session.proposal == 8)
    masseter = np.argwhere(ws.session.proposal == 5)
    at = eyes if len(eyes) else masseter
    if len(at):
        ws.viewer.set_position(tuple(int(v) for v in at.mean(0)))
    wait(app, lambda: False, 1.0)
    out.parent.mkdir(parents=True, exist_ok=True)
    save(win, out)
    win.close()


if __name__ == "__main__":
    main()
