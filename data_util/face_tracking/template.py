"""A generic 3D face of the 68 iBUG landmarks, made here (no Basel Face Model needed), for the rigid tracker.

Coordinates are typical adult proportions (face width at the ears ~14 cm, outer eye corners ~9 cm apart,
eyes-to-chin ~11 cm, nose tip ~5.5 cm in front of the origin), written in centimetres and converted to the
BFM's metric as the original tracker uses it: decimetres (BFM micrometres / 1e5), x to the subject's left
(image right for a frontal face), y up, z out of the face, origin near the centre of the face mesh (the
original centres its mean shape), so poses and t_z (about -7) come out on the same scale as the BFM
tracker's and steps 7+ cannot tell the trackers apart. tests/data_util/test_face_tracking_bfm.py checks it
against the real mean shape (sub_mesh.obj) when ../shared/adnerf-assets is present.
"""
from __future__ import annotations

import numpy as np

# (x, y, z) in cm for landmarks 0-67; the right half of the face (x < 0) is mirrored below.
_RIGHT_AND_CENTRE_CM = {
    # jaw contour 0-8 (the face's silhouette seen from the front)
    0: (-7.0, 2.0, -5.5), 1: (-6.9, -0.2, -5.2), 2: (-6.6, -2.3, -4.7), 3: (-6.2, -4.2, -4.0),
    4: (-5.6, -5.6, -3.2), 5: (-4.6, -6.8, -2.0), 6: (-3.4, -7.6, -0.6), 7: (-1.8, -8.1, 1.0),
    8: (0.0, -8.3, 1.8),
    # right brow 17-21 (outer to inner)
    17: (-5.3, 4.3, 0.6), 18: (-4.4, 5.0, 1.9), 19: (-3.3, 5.2, 2.7), 20: (-2.2, 5.1, 3.1), 21: (-1.2, 4.7, 3.3),
    # nose bridge 27-30, nose bottom 31-33
    27: (0.0, 3.2, 3.3), 28: (0.0, 2.1, 4.0), 29: (0.0, 1.0, 4.8), 30: (0.0, -0.1, 5.6),
    31: (-1.5, -1.2, 3.5), 32: (-0.8, -1.4, 4.0), 33: (0.0, -1.6, 4.3),
    # right eye 36-41 (outer corner, upper lid, inner corner, lower lid)
    36: (-4.4, 2.8, 1.0), 37: (-3.6, 3.3, 1.6), 38: (-2.6, 3.3, 1.8), 39: (-1.7, 2.8, 1.6),
    40: (-2.6, 2.5, 1.7), 41: (-3.6, 2.5, 1.5),
    # outer lips 48-51 and 57-59, inner lips 60-62 and 66-67
    48: (-2.6, -3.8, 2.3), 49: (-1.7, -3.2, 3.3), 50: (-0.7, -2.9, 3.9), 51: (0.0, -3.0, 4.0),
    57: (0.0, -4.8, 3.7), 58: (-0.8, -4.7, 3.6), 59: (-1.7, -4.4, 3.2),
    60: (-2.3, -3.8, 2.5), 61: (-0.8, -3.5, 3.5), 62: (0.0, -3.6, 3.6), 66: (0.0, -3.8, 3.6), 67: (-0.8, -3.8, 3.5),
}
# mirror pairs (left index, right index) of the iBUG scheme
_MIRROR = {**{16 - i: i for i in range(8)}, **{26 - i: 17 + i for i in range(5)}, 35: 31, 34: 32,
           45: 36, 44: 37, 43: 38, 42: 39, 47: 40, 46: 41, 54: 48, 53: 49, 52: 50, 55: 59, 56: 58,
           64: 60, 63: 61, 65: 67}


def generic_face_68() -> np.ndarray:
    """The template: float64 [68, 3] in decimetres (BFM metric and axes)."""
    points = np.zeros((68, 3))
    for i, xyz in _RIGHT_AND_CENTRE_CM.items():
        points[i] = xyz
    for left, right in _MIRROR.items():
        points[left] = points[right] * np.array([-1.0, 1.0, 1.0])
    return points / 10.0


def mirror_index() -> np.ndarray:
    """int [68]: the index of each landmark's mirror image (the centre line's points are their own)."""
    index = np.arange(68)
    for left, right in _MIRROR.items():
        index[left], index[right] = right, left
    return index


def rigid_weights() -> np.ndarray:
    """Per-landmark weights [68] for pose fitting: high where the skin does not move with speech or expression.

    Jaw contour points slide along the silhouette as the head turns and follow the open mouth; lips move
    with speech; lids blink; brows rise. Eye corners and the nose are nearly rigid.
    """
    w = np.ones(68)
    w[0:17] = 0.2            # jaw contour
    w[17:27] = 0.5           # brows
    w[[37, 38, 40, 41, 43, 44, 46, 47]] = 0.5   # eye lids
    w[48:68] = 0.1           # lips
    w[[48, 54]] = 0.3        # mouth corners
    return w
