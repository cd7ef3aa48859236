"""The NeRFs' public module: what another stage (evaluation, an application) may import of them.

    from NeRFs.api import load_talking_head
    th = load_talking_head(args)               # args: the torso options (NeRFs.api.parse_args(argv, "torso"))
    codes = th.codes(feats)                    # audio features [N, 16, C] -> [N, dim_aud]
    rgb = th.render(pose, codes[i])            # pose [4, 4] c2w -> [H, W, 3] in [0, 1]

Everything else of NeRFs/ may change without notice; these names stay.
"""
from NeRFs.core.backends import BACKENDS, backend_for
from NeRFs.core.config import parse_args
from NeRFs.core.serving import HeadRenderer, TalkingHead, load_head_renderer, load_talking_head

__all__ = ["BACKENDS", "HeadRenderer", "TalkingHead", "backend_for", "load_head_renderer", "load_talking_head",
           "parse_args"]
