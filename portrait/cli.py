"""adnerf-portrait: a rendered sequence with the real frame's hair, body and background, and (for a cropped
video) pasted back into the full-resolution source frames.

    adnerf-portrait --sequence dataset/<id>/logs/<id>_com/test_aud_rst [--dataset dataset/<id>] [--out DIR]
        [--audio WAV [--audio_offset S]] [--region face|head_neck] [--grow PX] [--feather PX] [--no_full]
        [--full_crf 18]

For each frame of the sequence (its frames.json names the pose's ``img_id``), the rendered face is blended
into the training video's own frame ori_imgs/<img_id>.jpg (the frame whose pose rendered it: the real hair,
torso and background) through a feathered mask around the inner face of that real frame's landmarks
ori_imgs/<img_id>.lms (``--region face``, the default), or around the head and neck of its parsing/<img_id>.png
(``--region head_neck``); portrait/paste.py. Written to ``--out`` (default: <sequence>_portrait beside the
sequence) in the project's one sequence format, with ``"kind": "portrait"`` in frames.json so that the
evaluation labels its numbers as portrait numbers, video.mp4, and video_with_audio.mp4 when the sequence has
sound (its own video_with_audio.mp4, --audio, or the dataset's aud.wav for consecutive audio frames).

When the dataset was cut from a larger video (dataset/<id>/crop.json, data_util/crop_video.py), each portrait
frame is also pasted back into the source frame of the same number, at the crop box, where the mask is:
video_full.mp4 (and video_full_with_audio.mp4) at the source's resolution. ``--no_full`` skips that.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

import numpy as np

from adnerf.errors import AdnerfError, run_command
from adnerf.files import atomic_path
from adnerf.landmarks import load_lms
from adnerf.media import image_size, mux_audio, read_image, video_frames, write_image
from adnerf.sequence_record import (VIDEO_NAME, VIDEO_WITH_AUDIO_NAME, read_sequence_record, record_dict,
                                    write_record)
from portrait.paste import blend, check_box, default_widths, face_region, feather_mask, head_neck_region, paste_back

KIND = "portrait"
FULL_VIDEO, FULL_VIDEO_WITH_AUDIO = "video_full.mp4", "video_full_with_audio.mp4"
REGIONS = {   # --region: what of the render is pasted -> (the parts recorded, whether it needs the landmarks,
    #                                                      the region bool [H, W] from (parsing, landmarks or None))
    "face": (["face"], True, lambda parsing, lms: face_region(lms, parsing.shape[:2])),
    "head_neck": (["head", "neck"], False, lambda parsing, lms: head_neck_region(parsing)),
}
DEFAULT_REGION = "face"
MASK_DIR = "mask"   # mask/<index>.png: uint8 round(255 alpha) of each frame (the seam band is 0 < alpha < 255)


def find_dataset(record, given: str | None, full: bool = True, region: str = DEFAULT_REGION) -> Path:
    """The dataset folder: ``given``, else the folder of the pose file the sequence names (driving records it),
    else the dataset the sequence lies in (dataset/<id>/logs/<expname>/<sequence>, where the NeRFs write)."""
    if given:
        folder = Path(given)
    elif record.meta.get("pose_file"):
        folder = Path(record.meta["pose_file"]).parent
    else:
        parents = Path(record.folder).resolve().parents
        folder = parents[2] if len(parents) > 2 else None
        if folder is None or not (folder / "ori_imgs").is_dir():
            raise AdnerfError(f"{record.folder / 'frames.json'} names no pose file and the sequence is not inside "
                              f"a dataset's logs/: give --dataset dataset/<id>")
    return check_dataset(folder, full, region)


def needs_landmarks(region: str) -> bool:
    """Whether the --region is drawn from the real frame's landmarks (ori_imgs/<img_id>.lms)."""
    return REGIONS[region][1]


def check_dataset(folder: str | Path, full: bool = True, region: str = DEFAULT_REGION) -> Path:
    """``folder`` when it holds what a portrait needs (ori_imgs/, parsing/, the landmarks for a face region and,
    with ``full`` and a crop.json, the source video it names), else an AdnerfError saying what to do: the NeRF
    commands call it before they render, so that a missing input is said before the long work."""
    folder = Path(folder)
    if region not in REGIONS:
        raise AdnerfError(f"--region {region}: choose one of {', '.join(REGIONS)}")
    if not (folder / "ori_imgs").is_dir() or not (folder / "parsing").is_dir():
        raise AdnerfError(f"{folder} is not a preprocessed dataset (no ori_imgs/ or parsing/): give --dataset "
                          f"dataset/<id>, the folder `bash process_data.sh <id>` made")
    if needs_landmarks(region) and not any((folder / "ori_imgs").glob("*.lms")):
        raise AdnerfError(f"{folder / 'ori_imgs'} holds no landmarks (<n>.lms, preprocessing step 2), which the "
                          f"portrait's --region {region} needs: run step 2, or paste the head and neck (--region "
                          f"head_neck; the NeRF commands: --portrait_region head_neck)")
    crop = read_crop_record(folder) if full else None
    if crop and not Path(crop["source"]).is_file():
        raise AdnerfError(f"the source video {crop['source']} named by {folder / 'crop.json'} is not there: put it "
                          f"back to paste the frames into it, or give --no_full")
    return folder


def sequence_sound(record, dataset: Path, audio: str | None, offset: float) -> tuple[Path, float] | None:
    """(audio file, seconds to skip) of the sequence's sound, or None when it has none."""
    if audio:
        return Path(audio), offset
    own = record.folder / VIDEO_WITH_AUDIO_NAME
    if own.is_file():
        return own, 0.0
    ids = [f.aud_id for f in record.frames]
    consecutive = all(i is not None for i in ids) and all(b - a == 1 for a, b in zip(ids, ids[1:]))
    if consecutive and ids and (dataset / "aud.wav").is_file() and _dataset_features(record, dataset):
        return dataset / "aud.wav", ids[0] / record.fps
    return None


def _dataset_features(record, dataset: Path) -> bool:
    """Whether the sequence's audio rows are rows of the dataset's own features (aud.npy, from aud.wav):
    so unless its record names another features file (a sequence driven by new speech)."""
    named = record.meta.get("aud_file")
    if not named:
        return True
    path = Path(named) if Path(named).is_absolute() or not (dataset / named).is_file() else dataset / named
    return path.resolve() in {(dataset / "aud.npy").resolve(), (dataset / "aud.wav").resolve()}


def portrait_frame(rendered: np.ndarray, dataset: Path, img_id: int, grow: float, feather: float,
                   region: str = DEFAULT_REGION):
    """(portrait uint8 [H, W, 3], its mask float32 [H, W]) of one rendered frame shown with pose ``img_id``;
    grow, feather: the mask's widths in pixels (portrait.paste.feather_mask); region: a key of REGIONS."""
    real = read_image(dataset / "ori_imgs" / f"{img_id}.jpg")
    parsing_path = dataset / "parsing" / f"{img_id}.png"
    if not parsing_path.is_file():
        raise AdnerfError(f"missing {parsing_path} (preprocessing step 3): portrait mode needs the parsing of "
                          f"the real frame {img_id}")
    parsing = read_image(parsing_path)
    if rendered.shape != real.shape or parsing.shape != real.shape:
        raise AdnerfError(f"frame {img_id}: the render ({rendered.shape[1]}x{rendered.shape[0]}), the real frame "
                          f"({real.shape[1]}x{real.shape[0]}) and its parsing ({parsing.shape[1]}x"
                          f"{parsing.shape[0]}) differ in size: was the sequence rendered from this dataset?")
    lms = None
    if needs_landmarks(region):
        lms_path = dataset / "ori_imgs" / f"{img_id}.lms"
        if not lms_path.is_file():
            raise AdnerfError(f"missing {lms_path} (preprocessing step 2): --region {region} needs the landmarks "
                              f"of the real frame {img_id}")
        lms = load_lms(lms_path)
    alpha = feather_mask(REGIONS[region][2](parsing, lms), grow, feather)
    return blend(real, rendered, alpha), alpha


def read_crop_record(dataset: Path) -> dict | None:
    path = dataset / "crop.json"
    if not path.is_file():
        return None
    try:
        crop = json.loads(path.read_text())
        crop["box"] = [int(v) for v in crop["box"]]
        crop["source_size"] = [int(v) for v in crop["source_size"]]
        crop["source"] = str(crop["source"])
    except (ValueError, KeyError, TypeError) as exc:
        raise AdnerfError(f"{path} is not a crop record ({exc}): re-run process_data, or --no_full") from None
    return crop


def source_frames(crop: dict, needed: set[int], progress: bool) -> dict[int, np.ndarray]:
    """{frame number: uint8 [Hs, Ws, 3]} of the source video at 25 fps, for the numbers in ``needed`` (held in
    memory: a sequence shows a few dozen distinct poses)."""
    source = Path(crop["source"])   # there: check_dataset
    found: dict[int, np.ndarray] = {}
    frames = video_frames(source)
    if progress:
        from tqdm import tqdm
        frames = tqdm(frames, desc="portrait: source frames", unit="frame", leave=False)
    for n, frame in frames:
        if n in needed:
            if [frame.shape[1], frame.shape[0]] != crop["source_size"]:
                raise AdnerfError(f"{source} decodes to {frame.shape[1]}x{frame.shape[0]}, crop.json says "
                                  f"{crop['source_size']}: crop.json belongs to another video")
            check_box(crop["box"], frame.shape[1], frame.shape[0])
            found[n] = frame.copy()
        if len(found) == len(needed):
            break
    missing = sorted(needed - set(found))
    if missing:
        raise AdnerfError(f"{source} has no frame {missing[0]} at 25 fps (the sequence shows it): crop.json "
                          f"belongs to another video?")
    return found


def make_portrait(sequence: str | Path, dataset: str | None = None, out: str | None = None, audio: str | None = None,
                  audio_offset: float = 0.0, grow: float | None = None, feather: float | None = None,
                  full: bool = True, full_crf: int = 18, progress: bool = True, region: str = DEFAULT_REGION) -> dict:
    """Write the portrait sequence (module docstring); returns {"folder", "video", "video_with_audio",
    "full_video", "full_video_with_audio"} (paths or None)."""
    from tqdm import tqdm
    record = read_sequence_record(sequence)
    if not record.frames:
        raise AdnerfError(f"{record.folder / 'frames.json'} lists no frames")
    if any(f.img_id is None for f in record.frames):
        raise AdnerfError(f"{record.folder / 'frames.json'}: a frame has no img_id (the pose's frame), so there is "
                          f"no real frame to paste it into")
    if record.meta.get("kind") == KIND:
        raise AdnerfError(f"{record.folder} is already a portrait sequence: give the rendered sequence")
    dataset_dir = find_dataset(record, dataset, full, region)
    for value, what in ((grow, "--grow"), (feather, "--feather")):
        if value is not None and not (np.isfinite(value) and value >= 0):
            raise AdnerfError(f"{what} {value} must be a finite number >= 0")
    folder = Path(out) if out else record.folder.parent / f"{record.folder.name}_portrait"
    crop = read_crop_record(dataset_dir) if full else None
    sound = sequence_sound(record, dataset_dir, audio, audio_offset)
    if sound and not sound[0].is_file():
        raise AdnerfError(f"audio file not found: {sound[0]}")
    sources = source_frames(crop, {f.img_id for f in record.frames}, progress) if crop else {}
    default_grow, default_feather = default_widths(image_size(record.folder / record.frames[0].file)[1])
    grow = default_grow if grow is None else grow
    feather = default_feather if feather is None else feather
    masks = []
    folder.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:   # the videos are written as the frames come (full-size frames are large)
        video = stack.enter_context(h264_writer(folder / VIDEO_NAME, record.fps, 18))
        full_video = stack.enter_context(h264_writer(folder / FULL_VIDEO, record.fps, full_crf)) if crop else None
        for k, entry in enumerate(tqdm(record.frames, desc="portrait", unit="frame", disable=not progress)):
            rendered = read_image(record.folder / entry.file)
            image, alpha = portrait_frame(rendered, dataset_dir, entry.img_id, grow, feather, region)
            write_image(folder / f"{k:05d}.png", image)
            write_image(folder / MASK_DIR / f"{k:05d}.png", np.rint(alpha * 255).astype(np.uint8))
            video.append_data(image)
            if crop:   # the render where the mask is; the source keeps its own full-resolution pixels elsewhere
                full_video.append_data(paste_back(sources[entry.img_id], image, crop["box"], alpha))
            masks.append(float(alpha.mean()))
    stale_frames = [*folder.glob("[0-9]" * 5 + ".png"), *(folder / MASK_DIR).glob("[0-9]" * 5 + ".png")]
    for stale in stale_frames:   # frames of an earlier, longer run
        if int(stale.stem) >= len(record.frames):
            stale.unlink()
    for name in (VIDEO_WITH_AUDIO_NAME, FULL_VIDEO_WITH_AUDIO, *(() if crop else (FULL_VIDEO,))):
        (folder / name).unlink(missing_ok=True)    # an earlier run's, made with other options
    result = {"folder": folder, "video": folder / VIDEO_NAME, "video_with_audio": None,
              "full_video": folder / FULL_VIDEO if crop else None, "full_video_with_audio": None}
    if sound:
        result["video_with_audio"] = mux_audio(result["video"], sound[0], folder / VIDEO_WITH_AUDIO_NAME,
                                               vcodec="copy", audio_offset=sound[1])
    meta = {k: v for k, v in record.meta.items() if k not in ("format", "kind")}
    full_meta = None
    if crop:
        full_meta = {"video": FULL_VIDEO, "size": crop["source_size"], "source": crop["source"], "box": crop["box"]}
        if sound:
            result["full_video_with_audio"] = mux_audio(result["full_video"], sound[0], folder / FULL_VIDEO_WITH_AUDIO,
                                                        vcodec="copy", audio_offset=sound[1])
            full_meta["video_with_audio"] = FULL_VIDEO_WITH_AUDIO
    write_record(folder, record_dict(
        [{"img_id": f.img_id, "aud_id": f.aud_id} for f in record.frames], record.fps, VIDEO_NAME, **meta,
        kind=KIND, portrait_of=str(record.folder), source_kind=record.meta.get("kind"), dataset=str(dataset_dir),
        mask={"parts": REGIONS[region][0], "region": region, "grow": grow, "feather": feather,
              "files": f"{MASK_DIR}/<index>.png",
              "mean_area": round(float(np.mean(masks)), 5)},
        audio=str(sound[0]) if sound else None, full_resolution=full_meta))
    return result


@contextlib.contextmanager
def h264_writer(path: Path, fps: float, crf: int):
    """An imageio writer of uint8 [H, W, 3] frames to an H.264 mp4 at ``path``, renamed into place when it
    closes without an error (adnerf.files.atomic_path); odd sizes are padded by one pixel (yuv420p)."""
    import imageio.v2 as imageio
    with atomic_path(path) as tmp:
        with imageio.get_writer(tmp, fps=fps, codec="libx264", pixelformat="yuv420p", macro_block_size=2,
                                output_params=["-crf", str(crf)], ffmpeg_log_level="error") as writer:
            yield writer


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="adnerf-portrait", description=__doc__.split("\n\n")[0],
                                epilog="docs/portrait.md explains the mask, the crop and the paste-back.")
    a = p.add_argument
    a("--sequence", required=True, help="a rendered sequence folder (frames.json + frames): driving, validation")
    a("--dataset", default=None, help="dataset/<id> (default: the folder of the sequence's pose file)")
    a("--out", default=None, help="output folder (default: <sequence>_portrait beside it)")
    a("--audio", default=None, help="sound for the videos (default: the sequence's own, see --help text)")
    a("--audio_offset", type=float, default=0.0, help="seconds of --audio to skip")
    a("--grow", type=float, default=None, help="px the mask reaches beyond the region (default 4 at 512)")
    a("--feather", type=float, default=None, help="px of the soft ramp at the mask's edge (default 8 at 512)")
    a("--region", choices=list(REGIONS), default=DEFAULT_REGION,
      help="what of the render is pasted: the inner face of the real frame's landmarks, brows to a lowered chin "
           "(default), or the parsing's head (with hair) and neck (docs/portrait.md)")
    a("--no_full", action="store_true", help="no paste-back into the full-resolution source, even with crop.json")
    a("--full_crf", type=int, default=18, help="H.264 quality of video_full.mp4 (lower: better, larger)")
    a("--no_progress", action="store_true", help="no progress bars")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def run():
        result = make_portrait(args.sequence, args.dataset, args.out, args.audio, args.audio_offset, args.grow,
                               args.feather, not args.no_full, args.full_crf, not args.no_progress,
                               args.region)
        for key in ("video_with_audio", "video", "full_video_with_audio", "full_video"):
            if result[key]:
                print(f"{key}: {result[key]}")
    return run_command(run)


if __name__ == "__main__":
    sys.exit(main())
