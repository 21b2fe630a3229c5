"""GUI jobs against the command line (issue 14): proposal time and event-loop stalls.

    xvfb-run -a python benchmarks/bench_gui_jobs.py [--repeats 2]

On the built-in sample head (synthetic phantom, seed 0, 1 mm), alternating per repeat:
- `headtwin segment` on the sample image in a subprocess (wall time, as a user runs it);
- the app in a real window (Xvfb): the sample case opened, the Labelling workspace shown, its
  model proposal started with a click and timed until the proposal is shown; then the
  reconstruction workspace's cascade over every slice; then the 3D twin shown (meshing).
A 10 ms QTimer on the GUI thread records the longest gap between its ticks during each job:
a gap is how long the event loop could not answer the user.
Writes benchmarks/results/gui_jobs.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine_info import machine_info

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "gui_jobs.json"


class Heartbeat:
    """Longest gap between 10 ms ticks of a GUI-thread timer since the last `reset`."""

    def __init__(self) -> None:
        from PySide6.QtCore import QTimer

        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)
        self.reset()
        self.timer.start()

    def reset(self) -> None:
        self.last = time.perf_counter()
        self.gaps: list[float] = []
        self.sites: list[list[str]] = []  # where the other threads were after each long gap

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append(now - self.last)
        if now - self.last > 0.1:
            self.sites.append(worker_sites())
        self.last = now

    def worst_ms(self) -> float:
        return round(1000 * max(self.gaps, default=0.0), 1)

    def over_100ms(self) -> int:
        return sum(g > 0.1 for g in self.gaps)


def worker_sites() -> list[str]:
    """The innermost frames of every other thread when the GUI thread got the GIL back after
    a long gap: the code that held it (or had just released it) is at or just before them."""
    import threading

    main = threading.main_thread().ident
    out = []
    for ident, frame in sys._current_frames().items():
        if ident == main:
            continue
        where = []
        f = frame
        while f is not None and len(where) < 3:
            name = f.f_code.co_filename
            if "site-packages" in name or "headtwin_app" in name:
                short = name.split("site-packages/")[-1].split("/work/main/")[-1]
                where.append(f"{short}:{f.f_lineno} {f.f_code.co_name}")
            f = f.f_back
        if where and "threading.py" not in where[0]:
            out.append(" < ".join(where))
    return out


def cli_segment(image: Path, out: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "headtwin_app.cli.main", "segment", "--image",
                    str(image), "--out", str(out)], check=True, capture_output=True)
    return time.perf_counter() - t0


def wait(app, done, timeout: float) -> float:  # type: ignore[no-untyped-def]
    """Process events until done() (or timeout); seconds taken."""
    t0 = time.perf_counter()
    while not done():
        app.processEvents()
        time.sleep(0.002)
        if time.perf_counter() - t0 > timeout:
            raise SystemExit(f"timed out after {timeout} s")
    return time.perf_counter() - t0


def gui_run(app, case_dir: Path) -> dict:  # type: ignore[no-untyped-def]
    from PySide6.QtCore import QPoint, QSettings, Qt
    from PySide6.QtTest import QTest

    from headtwin_app.ui.main_window import MainWindow

    beat = Heartbeat()
    settings_file = Path(tempfile.mkdtemp()) / "settings.ini"  # a new user's window, no state
    win = MainWindow(QSettings(str(settings_file), QSettings.Format.IniFormat))
    win.resize(1500, 920)
    win.show()
    out: dict = {}
    beat.reset()
    win.open_path(case_dir)
    out["load_s"] = round(wait(app, lambda: win.state.case is not None
                               and not win.jobs.is_busy, 300), 2)
    out["load_worst_gap_ms"] = beat.worst_ms()
    out["load_stall_sites"] = beat.sites

    lab = win.workspaces["labelling"]
    win.show_tab("labelling")
    wait(app, lambda: lab.session is not None, 120)
    wait(app, lambda: True, 0)
    beat.reset()
    assert lab.session.proposal is None
    QTest.mouseClick(lab.proposal_button, Qt.MouseButton.LeftButton, pos=QPoint(5, 5))
    t0 = time.perf_counter()
    wait(app, lambda: lab.session.proposal is not None and not win.jobs.is_busy, 1200)
    out["proposal_s"] = round(time.perf_counter() - t0, 2)
    out["proposal_worst_gap_ms"] = beat.worst_ms()
    out["proposal_gaps_over_100ms"] = beat.over_100ms()
    out["proposal_stall_sites"] = beat.sites
    print(f"  proposal {out['proposal_s']} s", flush=True)

    recon = win.workspaces["recon"]
    win.show_tab("recon")
    wait(app, lambda: True, 0)
    beat.reset()
    shown: list = []
    recon.result_shown.connect(lambda r: shown.append(r))
    recon.run()
    t0 = time.perf_counter()
    wait(app, lambda: bool(shown) and not win.jobs.is_busy, 1200)
    out["recon_s"] = round(time.perf_counter() - t0, 2)
    out["recon_worst_gap_ms"] = beat.worst_ms()
    out["recon_stall_sites"] = beat.sites

    twin = win.workspaces["twin"]
    beat.reset()
    t0 = time.perf_counter()
    win.show_tab("twin")
    wait(app, lambda: not twin.is_busy(), 600)
    out["twin_s"] = round(time.perf_counter() - t0, 2)
    out["twin_worst_gap_ms"] = beat.worst_ms()
    win.close()
    beat.timer.stop()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    os.environ.setdefault("MPLBACKEND", "Agg")
    from PySide6.QtWidgets import QApplication

    from headtwin_app.core.phantom import sample_case_dir

    app = QApplication.instance() or QApplication(sys.argv[:1])
    case = sample_case_dir()
    cli, gui = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            cli.append(round(cli_segment(case / "image.nii.gz", Path(tmp) / f"s{i}.nii.gz"), 2))
            gui.append(gui_run(app, case))
            print(json.dumps({"cli_segment_s": cli[-1], **gui[-1]}), flush=True)
    med_cli = statistics.median(cli)
    med_gui = statistics.median(g["proposal_s"] for g in gui)
    worst = max(max(v for k, v in g.items() if k.endswith("worst_gap_ms")) for g in gui)
    result = {"cli_segment_s": cli, "gui": gui, "median_cli_s": med_cli,
              "median_gui_proposal_s": med_gui, "ratio": round(med_gui / med_cli, 2),
              "worst_gap_ms": worst,
              "targets": "GUI proposal <= 1.3 x CLI; no event-loop gap > 100 ms during a job",
              "machine": machine_info()}
    OUT.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "gui"}, indent=1))


if __name__ == "__main__":
    main()
