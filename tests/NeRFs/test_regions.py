"""--skip_bg_pixels: the region comes from the parsing masks, and skipped pixels show the background."""
import numpy as np
import torch
from PIL import Image

from NeRFs.core.regions import parsing_union, scatter_rays


def _parsing(path, head_box, torso_box, size=20):
    img = np.full((size, size, 3), 255, np.uint8)  # background white
    y0, y1, x0, x1 = head_box
    img[y0:y1, x0:x1] = (0, 0, 255)  # head: BGR (255, 0, 0) on disk as RGB (0, 0, 255)
    y0, y1, x0, x1 = torso_box
    img[y0:y1, x0:x1] = (255, 0, 0)  # torso
    Image.fromarray(img).save(path)


def test_parsing_union_covers_every_frame_and_the_margin(tmp_path):
    (tmp_path / "parsing").mkdir()
    _parsing(tmp_path / "parsing" / "0.png", (2, 6, 2, 6), (12, 20, 0, 20))
    _parsing(tmp_path / "parsing" / "1.png", (3, 7, 8, 12), (12, 20, 0, 20))
    head = parsing_union(tmp_path, [0, 1], "head", (20, 20), margin=0)
    assert head.sum() == 32 and head[2, 2] and head[6, 11] and not head[15, 5]
    grown = parsing_union(tmp_path, [0, 1], "head", (20, 20), margin=1)
    assert grown[1, 2] and grown[7, 11] and not grown[9, 2]
    person = parsing_union(tmp_path, [0, 1], "person", (20, 20), margin=0)
    assert person.sum() == 32 + 160 and person[19, 19]
    assert parsing_union(tmp_path, [0, 5], "head", (20, 20), margin=0) is None  # a frame without parsing


def test_scatter_rays_fills_the_skipped_pixels():
    mask = torch.tensor([True, False, True, False])
    out = scatter_rays({"rgb": torch.ones(2, 3)}, mask, {"rgb": torch.full((4, 3), 0.5)})
    assert torch.equal(out["rgb"][:, 0], torch.tensor([1.0, 0.5, 1.0, 0.5]))
    same = {"rgb": torch.zeros(4, 3)}
    assert scatter_rays(same, None, {}) is same


def test_parsing_labels_follow_the_original_colours():
    """ADNERF_BEHAVIOUR.md step 3 writes BGR colours with cv2: head (255,0,0), neck (0,255,0), cloth (0,0,255),
    background white; a PNG read as RGB shows head blue and cloth red. JPEG-like noise keeps its label."""
    from NeRFs.core.regions import BACKGROUND, BODY, HEAD, parsing_labels
    bgr = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255], [250, 8, 3], [247, 251, 249]]])
    labels = parsing_labels(bgr[..., ::-1] / 255.0)
    assert labels.tolist() == [[HEAD, BODY, BODY, BACKGROUND, HEAD, BACKGROUND]]


def test_dataset_parsing_labels_the_pixels_asked_for(dataset_copy):
    """AudFaceDataset.parsing: frame k's parsing/<img_id>.png, labels at (row, col) pixels or whole; a parsing
    of another size is a one-line error naming the file."""
    import pytest
    from NeRFs.core.dataset import AudFaceDataset
    from NeRFs.core.regions import BACKGROUND, BODY, HEAD
    from NeRFs.core.utils import UserError
    ds = AudFaceDataset(dataset_copy, "com_imgs", splits=("train",))
    (dataset_copy / "parsing").mkdir()
    img = np.full((ds.H, ds.W, 3), 255, np.uint8)
    img[2:5, 10:20] = (0, 0, 255)   # head: rows 2-4, columns 10-19
    img[15:, 0:3] = (0, 255, 0)     # neck: bottom rows, left columns
    Image.fromarray(img).save(dataset_copy / "parsing" / f"{ds.splits['train'].img_ids[1]}.png")
    pixels = np.array([[3, 12], [12, 3], [20, 1], [1, 20], [4, 19]])
    assert ds.parsing("train", 1, pixels).tolist() == [HEAD, BACKGROUND, BODY, BACKGROUND, HEAD]
    full = ds.parsing("train", 1)
    assert full.shape == (ds.H, ds.W) and int((full == HEAD).sum()) == 30 and full[20, 2] == BODY
    Image.fromarray(img[:-1]).save(ds.parsing_path("train", 1))
    with pytest.raises(UserError, match=r"parsing/\d+\.png is \d+x\d+ but bc.jpg is") as exc:
        ds.parsing("train", 1, pixels)
    assert "\n" not in str(exc.value)
