"""The grid backend (``--backend grid``): the same pipeline with a tri-plane field, small audio-conditioned
MLPs and an occupancy grid, in plain PyTorch (docs/grid_backend.md).

- ``encoding``   multi-resolution tri-plane (F.grid_sample) and hash-grid (embedding gathers) encodings
- ``field``      GridField: encoding + audio-conditioned density / colour MLPs; the frustum box
- ``occupancy``  the occupancy grid that skips empty space
- ``render``     one-pass rendering with skipping; early termination for display renders
- ``models``     GridBackend: the head (field, occupancy, AudioNet, AudioAttNet) and torso models behind the
                 model layer's hooks (NeRFs/core/models.py), optimisers, settings, checkpoint kinds
                 (``*_gridhead.tar``, ``*_gridbody.tar``, ``backend: "grid"``)
- ``options``    the command-line options

The trainers and serving are NeRFs/core's, the same for every backend; the backend plugs in through one
entry of NeRFs/core/backends.py. Nothing here imports the trainers, serving or that table.
"""
