"""Preprocessing step 3, face parsing: parsing/<n>.png with the original AD-NeRF's BGR colour code.

    run_parsing(dataset_dir, *, backend="bisenet" | "mediapipe", weights=None, device="auto", cache_dir=None,
                force=False, progress=True) -> record

Modules: bisenet (the network of 79999_iter.pth), weights (find / download / load it), parsers (the backends
behind one signature), silhouette (the offline mediapipe backend), labels (colour code, PNG reading / writing).
"""
from data_util.face_parsing.labels import (BACKGROUND, HEAD, NECK, PART_BGR, PART_NAMES, TORSO, bgr_to_parts,
                                           parts_to_bgr, read_parsing, write_parsing)
from data_util.face_parsing.parsers import BACKENDS, load_parser
from data_util.face_parsing.step import run_parsing

__all__ = ["BACKENDS", "BACKGROUND", "HEAD", "NECK", "PART_BGR", "PART_NAMES", "TORSO", "bgr_to_parts", "load_parser",
           "parts_to_bgr", "read_parsing", "run_parsing", "write_parsing"]
