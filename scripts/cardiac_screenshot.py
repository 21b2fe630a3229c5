"""Screenshot of the Cardiac twin workspace in the app, with a generated synthetic subject.

    xvfb-run -a python scripts/cardiac_screenshot.py [--seed 3] [--k 3] [--method net]
        [--phase-model models/cardiac_phase.pt] [--frame 6] [--out PNG]

Opens the main window on the Cardiac twin tab, generates the subject through the workspace's
Generate job (50 frames, 3 slices, 128²), measures its velocities, then runs the interpolation
and the phase synthesis when their core functions and models are there (each step that cannot
run is printed, and its panels stay empty). The default --out is docs/screenshots/cardiac_twin.png.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path


def shipped_model_missing(step: str, args: argparse.Namespace) -> str:
    """The shipped model a step would use when none is given, if it is not there."""
    if step == "interpolation" and args.method == "net" and not args.interp_model:
        from headtwin_app.core.cardiac.interp_net import DEFAULT_MODEL
        return "" if DEFAULT_MODEL.is_file() else str(DEFAULT_MODEL)
    if step == "phase synthesis" and not args.phase_model:
        from headtwin_app.core.cardiac.phase_net import DEFAULT_MODELS
        return "" if DEFAULT_MODELS["fgbg"].is_file() else str(DEFAULT_MODELS["fgbg"])
    return ""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--snr", type=float, default=20.0)
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--method", default="net", choices=("net", "linear", "hs"))
    ap.add_argument("--interp-model", default="", help="checkpoint (default: the shipped one)")
    ap.add_argument("--phase-model", default="", help="checkpoint (default: the shipped one)")
    ap.add_argument("--frame", type=int, default=6, help="frame shown (6: near peak systole)")
    ap.add_argument("--slice", type=int, default=1)
    ap.add_argument("--out", default="docs/screenshots/cardiac_twin.png")
    args = ap.parse_args()
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication, QMessageBox

    from headtwin_app.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    # a failed step (e.g. no shipped model yet) is printed, not shown in a modal dialog
    QMessageBox.warning = lambda _parent, title, text, *a, **k: print(f"{title}: {text}")
    QMessageBox.critical = QMessageBox.warning
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    folder = Path(tempfile.mkdtemp())
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))
    win = MainWindow(QSettings(str(folder / "s.ini"), QSettings.Format.IniFormat))
    win.resize(1600, 960)
    win.show()
    win.show_tab("cardiac")
    ws = win.workspaces["cardiac"]

    def settle(seconds: float = 600.0) -> None:
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < 0.3 or (win.jobs.is_busy
                                                 and time.perf_counter() - t0 < seconds):
            app.processEvents()
            time.sleep(0.01)

    ws.seed.setValue(args.seed)
    ws.snr.setValue(args.snr)
    ws.frames.setValue(50)
    ws.slices.setValue(3)
    ws.size.setValue(128)
    ws.k.setValue(args.k)
    ws.method.setCurrentIndex(ws.method.findData(args.method))
    ws.interp_model.setText(args.interp_model)
    ws.synth_model.setText(args.phase_model)
    ws.generate()
    settle()
    if ws.case is None:
        sys.exit(f"no subject: {ws.error_label.text()}")
    steps = (("interpolation", ws.interp_button, ws.interpolate, lambda: ws.interp),
             ("phase synthesis", ws.synth_button, ws.synthesize, lambda: ws.synth))
    for name, button, run, result in steps:
        if not button.isEnabled():
            print(f"{name}: skipped ({button.toolTip()})")
            continue
        missing = shipped_model_missing(name, args)
        if missing:
            print(f"{name}: skipped (no model given and {missing} is not there)")
            continue
        run()
        settle()
        if result() is None:
            print(f"{name}: not shown ({ws.error_label.text() or ws.progress_label.text()})")
    ws.error_label.setText("")
    ws.slice.setValue(args.slice)
    ws.frame.setValue(args.frame)
    settle(1.0)
    out = win.save_screenshot(args.out)
    print(out)
    win.close()


if __name__ == "__main__":
    main()
