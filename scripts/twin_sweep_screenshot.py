"""Screenshot of the twin-sweep view ("What does this acceleration do to the twin?") in the app.

    xvfb-run -a python scripts/twin_sweep_screenshot.py SWEEP_JSON [--out PNG]

Opens the main window on the built-in sample head, opens the view from the Tools menu's action
and shows in it a result that `headtwin twin-sweep` wrote (sweep.json, e.g. from
benchmarks/bench_pipeline.py), so the picture shows measured rows, not made-up ones. The
default --out is docs/screenshots/twin_sweep.png.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("sweep_json")
    ap.add_argument("--out", default="docs/screenshots/twin_sweep.png")
    args = ap.parse_args()
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from headtwin_app.core.phantom import sample_case_dir
    from headtwin_app.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    settings = QSettings(str(Path(tempfile.mkdtemp()) / "s.ini"), QSettings.Format.IniFormat)
    win = MainWindow(settings)
    win.resize(1500, 920)
    win.show()
    win.open_path(sample_case_dir())
    t0 = time.perf_counter()
    while (win.state.case is None or win.jobs.is_busy) and time.perf_counter() - t0 < 120:
        app.processEvents()
        time.sleep(0.01)
    win.open_twin_sweep()
    dialog = win.twin_sweep
    result = json.loads(Path(args.sweep_json).read_text())
    dialog.show_result(result)
    dialog.status.setText(dialog.status.text() + f" — from {Path(args.sweep_json).name}")
    dialog.resize(1180, 760)
    for _ in range(50):
        app.processEvents()
        time.sleep(0.02)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    dialog.grab().save(str(out))
    print(out)
    win.close()


if __name__ == "__main__":
    main()
