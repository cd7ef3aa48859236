"""Training a tiny person for the avatar tests, through the NeRFs' command lines only."""
import json
from pathlib import Path

from data_util.synthetic_head import make_synthetic_dataset

# written into the three NeRF configs, so that every command reads the same small networks
TINY = {"netwidth": 32, "netwidth_fine": 32, "N_samples": 8, "N_importance": 8, "N_rand": 64,
        "grid_hidden": 16, "grid_max_res": 32, "occ_res": 16, "i_print": 1000, "i_img": 100000,
        "i_testset": 100000, "i_weights": 100000}
STEPS = 2


def train_person(root: Path) -> Path:
    """Make the dataset at ``root`` and train both backends for STEPS steps; returns ``root``."""
    from NeRFs.HeadNeRF.run_nerf import main as head_main
    from NeRFs.TorsoNeRF.run_nerf import main as torso_main
    from tests.support import parsing_with_a_hidden_neck
    make_synthetic_dataset(root, n_frames=33, size=24, aud_channels=26, config_extra=TINY)
    parsing_with_a_hidden_neck(root)
    (root / "preprocess.json").write_text(json.dumps({"steps": {"audio": {"backend": "mfcc", "audio_channel": "first"}}}))
    for backend in ("mlp", "grid"):
        common = ["--backend", backend, "--N_iters", str(STEPS), "--nosmo_iters", "1"]
        assert head_main(["--config", str(root / "HeadNeRF_config.txt"), *common]) == 0
        assert torso_main(["--config", str(root / "TorsoNeRF_config.txt"), *common]) == 0
    return root
