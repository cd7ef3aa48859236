"""Preprocessing step 6, face tracking: ori_imgs/<n>.lms -> dataset/<id>/track_params.pt.

    run_tracking(dataset_dir, *, tracker="bfm" | "rigid", device="auto", bfm_dir=None, force=False,
                 progress=True, focal=None, smooth=0.5, **bfm_options) -> record

Trackers: ``bfm`` (the original's Basel Face Model fitting, face_tracker.py; needs 3DMM/3DMM_info.npy made
by convert_BFM.py) and ``rigid`` (rigid_tracker.py: head pose from the landmarks with a generic face, no
BFM, offline). Both write the same file format. See docs/face_tracking.md.
"""
from .pipeline import TRACKERS, run_tracking, save_track_params

__all__ = ["TRACKERS", "run_tracking", "save_track_params"]
