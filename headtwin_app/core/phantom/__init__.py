"""Synthetic head phantom: a PD-weighted-like head MRI from the vertex to about C4 with the 12
craniofacial/CNS labels of the head-twin paper and a real (MNI ICBM152) brain with tissue,
region and hemisphere maps. Each seed is a different, reproducible subject.

    ph = make_phantom(seed=3, spacing=1.0)
    save_phantom(ph, "out/case3")
    sample_case_dir()  # the built-in sample head, generated once into the user cache
    sample_case_dir("t1")  # the same head T1-weighted (also "t2", "flair"; "pd" by default)
"""

from headtwin_app.core.phantom.generate import (
    GENERATOR_VERSION,
    TWIN_NAMES,
    Phantom,
    make_phantom,
    subject_grid,
)
from headtwin_app.core.phantom.sequences import sequence_summary
from headtwin_app.core.phantom.storage import (
    PHANTOM_FILES,
    cache_root,
    sample_case_dir,
    sample_contrast,
    sample_is_cached,
    save_phantom,
)

__all__ = ["GENERATOR_VERSION", "PHANTOM_FILES", "TWIN_NAMES", "Phantom", "cache_root",
           "make_phantom", "sample_case_dir", "sample_contrast", "sample_is_cached",
           "save_phantom", "sequence_summary", "subject_grid"]
