"""The grid backend (``--backend grid``): the same pipeline with a tri-plane field, small audio-conditioned
MLPs and an occupancy grid, in plain PyTorch (docs/grid_backend.md).

- ``encoding``   multi-resolution tri-plane (F.grid_sample) and hash-grid (embedding gathers) encodings
- ``field``      GridField: encoding + audio-conditioned density / colour MLPs; the frustum box
- ``occupancy``  the occupancy grid that skips empty space
- ``render``     one-pass rendering with skipping; early termination for display renders
- ``models``     the grid head (field, occupancy, AudioNet, AudioAttNet), optimiser, settings
- ``head``, ``torso``   the trainers (same loop, data, checkpoints' handling as the MLP's)
- ``kinds``      checkpoint kinds (``*_gridhead.tar``, ``*_gridbody.tar``, ``backend: "grid"``)
- ``options``    the command-line options
"""


def select_trainer(mlp_trainer_cls, args):
    """The trainer class for ``args.backend``: ``mlp_trainer_cls`` itself (HeadTrainer / TorsoTrainer) for
    the MLP backend, its grid counterpart for ``--backend grid``."""
    if getattr(args, "backend", "mlp") != "grid":
        return mlp_trainer_cls
    from .head import GridHeadTrainer
    from .torso import GridTorsoTrainer
    from NeRFs.core.torso import TorsoTrainer
    return GridTorsoTrainer if issubclass(mlp_trainer_cls, TorsoTrainer) else GridHeadTrainer
