"""Screenshot of the k-space designer showing the built-in sample head T1-weighted.

    xvfb-run -a python scripts/designer_contrast_screenshot.py [--out docs/screenshots/...]

Opens the sample head (PD), picks T1 in the designer's Contrast combo (the app loads, or the first
time generates, the T1 head on its job runner), sets a 4× random-line mask and saves the window:
aliasing, PSNR/SSIM and the case views with the labels on the T1 head. Everything shown is
computed by the app. Settings go to a throwaway folder, not the user's.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path


def wait(app, until, seconds: float = 600.0) -> None:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    while not until():
        if time.perf_counter() - t0 > seconds:
            raise SystemExit(f"gave up waiting after {seconds:.0f} s")
        app.processEvents()
        time.sleep(0.02)


def pause(app, seconds: float) -> None:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        app.processEvents()
        time.sleep(0.02)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="docs/screenshots/designer_contrast.png")
    ap.add_argument("--contrast", default="t1", choices=("t1", "t2", "pd", "flair"))
    args = ap.parse_args()
    out = Path(args.out).resolve()
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    folder = tempfile.mkdtemp()
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, folder)
    app = QApplication.instance() or QApplication(sys.argv[:1])

    from headtwin_app.core.phantom import sample_case_dir
    from headtwin_app.ui.designer import CONTRAST_ORDER, accel_to_slider
    from headtwin_app.ui.main_window import MainWindow

    win = MainWindow(QSettings(str(Path(folder) / "s.ini"), QSettings.Format.IniFormat))
    win.resize(1600, 980)
    win.show()
    win.show_tab("designer")
    win.open_path(sample_case_dir())
    wait(app, lambda: win.state.case is not None and not win.jobs.is_busy)
    ws = win.workspaces["designer"]
    wait(app, lambda: ws.frame is not None and ws.is_idle())
    ws.family.setCurrentText("random_line")
    ws.r_slider.setValue(accel_to_slider(4.0))
    t0 = time.perf_counter()
    ws.contrast.setCurrentIndex(CONTRAST_ORDER.index(args.contrast))
    wait(app, lambda: ws.is_idle() and ws.sample_contrast() == args.contrast)
    print(f"{args.contrast} sample head shown after {time.perf_counter() - t0:.0f} s", flush=True)
    pause(app, 1.0)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not win.grab().save(str(out)):
        raise SystemExit(f"could not write {out}")
    print(out, flush=True)
    win.close()


if __name__ == "__main__":
    main()
