"""Pure computation: numpy, torch, SimpleITK, nibabel. Never imports Qt or VTK."""
