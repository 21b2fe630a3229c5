"""Qt (PySide6 + pyqtgraph): the main window, the four workspaces and their workers."""
