"""VTK: label maps to meshes, scenes, offscreen snapshots, mesh export. Never imports Qt.

VTK's warnings and log lines are kept off the terminal (writers are checked through their error
codes and the app says what failed in one line)."""

from vtkmodules.vtkCommonCore import vtkLogger, vtkObject

vtkObject.GlobalWarningDisplayOff()
vtkLogger.SetStderrVerbosity(vtkLogger.VERBOSITY_OFF)
