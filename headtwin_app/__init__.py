"""HeadTwin Studio: from undersampled head MRI k-space to a 3D head digital twin."""

__version__ = "0.1.0"
