"""Segmentation engine: backends behind one interface (see `backend.py`), fusion into one twin."""

from headtwin_app.core.seg.backend import (
    BACKENDS,
    Progress,
    SegmentationBackend,
    TrainingCase,
    get_backend,
    load_training_cases,
)

__all__ = ["BACKENDS", "Progress", "SegmentationBackend", "TrainingCase", "get_backend",
           "load_training_cases"]
