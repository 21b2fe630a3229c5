"""VTK: label maps to meshes, scenes, offscreen snapshots, mesh export. Never imports Qt."""
