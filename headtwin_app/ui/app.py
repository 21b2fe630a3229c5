"""GUI entry: `python main.py [IMAGE] [--screenshot FILE [--tab NAME]]`."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="main.py", description="HeadTwin Studio")
    parser.add_argument("image", nargs="?", help="image, DICOM folder or case folder to open "
                        "(default: the built-in sample head)")
    parser.add_argument("--screenshot", metavar="FILE", help="save a PNG of the window and exit")
    parser.add_argument("--tab", default=None,
                        help="workspace to show: designer, recon, labelling, twin")
    parser.add_argument("--size", default="1500x920", help="window size for --screenshot, WxH")
    args = parser.parse_args(argv)
    # absolute now: ITK's lazy loader (the idle preload, a first Grow) briefly changes the
    # process's working folder from another thread
    for name in ("image", "screenshot"):
        if getattr(args, name):
            setattr(args, name, str(Path(getattr(args, name)).absolute()))
    if os.environ.get("HEADTWIN_CACHE"):
        os.environ["HEADTWIN_CACHE"] = str(Path(os.environ["HEADTWIN_CACHE"]).absolute())
    return args


def _install_excepthook() -> None:
    """An exception no handler caught becomes a dialog (its one line: the user-facing message,
    or for a bug the log path holding the traceback), never a silent crash."""
    from PySide6.QtWidgets import QApplication, QMessageBox

    from headtwin_app.ui.errors import error_text

    def hook(exc_type, exc, tb) -> None:  # type: ignore[no-untyped-def]
        exc.__traceback__ = tb
        text = error_text(exc)
        sys.stderr.write(f"headtwin: {text}\n")
        if QApplication.instance() is not None:
            QMessageBox.critical(None, "HeadTwin Studio", text)

    sys.excepthook = hook


def main(argv: Sequence[str] | None = None) -> int:
    from headtwin_app.core.errors import route_warnings_to_log

    args = parse_args(argv)
    route_warnings_to_log()
    import pyqtgraph as pg
    from PySide6.QtWidgets import QApplication

    pg.setConfigOptions(imageAxisOrder="col-major", antialias=True)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("HeadTwin Studio")
    app.setOrganizationName("HeadTwin")

    from headtwin_app.ui.main_window import MainWindow

    window = MainWindow()
    if args.tab:
        try:
            window.show_tab(args.tab)
        except ValueError as exc:
            print(f"main.py: error: {exc}", file=sys.stderr)
            return 2
    if args.screenshot:
        return _screenshot(app, window, args)
    _install_excepthook()
    window.show()
    if args.image:
        window.open_path(args.image)
    elif window.state.case is None:
        window.open_sample()
    return app.exec()


def _screenshot(app, window, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    """Open the case synchronously, render every view, save the PNG, exit 0."""
    from PySide6.QtCore import QEventLoop, QTimer

    from headtwin_app.core.case import load_case

    w, h = (int(v) for v in args.size.lower().split("x"))
    window.resize(w, h)
    window.show()
    try:
        if args.image:
            case = load_case(args.image)
        else:
            from headtwin_app.core.phantom import sample_case_dir

            case = load_case(sample_case_dir())
    except ValueError as exc:
        print(f"main.py: error: {exc}", file=sys.stderr)
        window.close()
        return 2
    window.set_case(case)
    # Let workspaces finish their own background work (meshing, live previews) before grabbing.
    for _ in range(60):
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 100)
        busy = [ws for ws in window.workspaces.values() if getattr(ws, "is_busy", lambda: False)()]
        if not busy:
            break
        loop = QEventLoop()
        QTimer.singleShot(250, loop.quit)
        loop.exec()
    app.processEvents()
    out = window.save_screenshot(args.screenshot)
    print(f"saved {out}")
    window.close()
    return 0
