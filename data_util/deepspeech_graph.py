"""The DeepSpeech 0.1.0 frozen graph: download (checked, cached) and in-process inference.

    fetch_deepspeech_graph(model_dir=None, *, url=None, sha1=None, progress=True) -> Path
    run_deepspeech_graph(inputs [T, 494], graph_path) -> logits [T, 29]

The graph is the one the original AD-NeRF uses (osmr/deepspeech_features release v0.0.1): a zip holding
``deepspeech-0_1_0-b90017e8.pb``, whose SHA-1 is checked after unzipping. It is cached in
``~/.tensorflow/models/`` as in the original; ``model_dir`` or the environment variable
``ADNERF_DEEPSPEECH_DIR`` choose another folder, ``ADNERF_DEEPSPEECH_URL`` another download location
(a mirror). TensorFlow (tensorflow-cpu 2.x) is imported only here, on first use, because importing it
takes seconds and hundreds of MB; the TF1 graph runs through
``tf.compat.v1`` (import_graph_def under the name scope "deepspeech", then Session.run).
"""
from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import sys
import zipfile
from pathlib import Path

import numpy as np

from adnerf.download import fetch, file_digest
from data_util.common import StepError, atomic_path

DEEPSPEECH_URL = ("https://github.com/osmr/deepspeech_features/releases/download/v0.0.1/"
                  "deepspeech-0_1_0-b90017e8.pb.zip")
DEEPSPEECH_SHA1 = "b90017e816572ddce84f5843f1fa21e6a377975e"
DEEPSPEECH_FILE = "deepspeech-0_1_0-b90017e8.pb"
INPUT, LENGTHS, LOGITS = "deepspeech/input_node:0", "deepspeech/input_lengths:0", "deepspeech/logits:0"
OFFLINE_HINT = "or compute features without it: --audio_backend mfcc (or --offline)"


def default_model_dir() -> Path:
    """Where the downloaded graph is cached: $ADNERF_DEEPSPEECH_DIR, else ~/.tensorflow/models (the original's)."""
    return Path(os.environ.get("ADNERF_DEEPSPEECH_DIR") or "~/.tensorflow/models").expanduser()


def file_sha1(path: str | os.PathLike) -> str:
    return file_digest(path, "sha1")


def fetch_deepspeech_graph(model_dir: str | os.PathLike | None = None, *, url: str | None = None,
                           sha1: str | None = None, progress: bool = True) -> Path:
    """Path of the checked DeepSpeech graph in ``model_dir``, downloading and unzipping it on first use.

    url: default $ADNERF_DEEPSPEECH_URL (a mirror; https:// or file://), else DEEPSPEECH_URL;
    sha1: default DEEPSPEECH_SHA1 (the SHA-1 of the unzipped .pb).

    A cached file with another SHA-1 (truncated, replaced) is downloaded again. A failed download or a
    checksum mismatch raises StepError naming the URL, the expected path and the offline alternative; the
    cache then holds no partial file.
    """
    url = url or os.environ.get("ADNERF_DEEPSPEECH_URL") or DEEPSPEECH_URL
    sha1 = (sha1 or DEEPSPEECH_SHA1).lower()
    folder = Path(model_dir).expanduser() if model_dir else default_model_dir()
    target = folder / DEEPSPEECH_FILE
    if target.is_file() and file_sha1(target) == sha1:
        return target
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StepError(f"cannot create the model cache {folder}: {exc}; set ADNERF_DEEPSPEECH_DIR to a "
                        f"writable folder, {OFFLINE_HINT}") from exc
    with atomic_path(target) as tmp_pb:
        tmp_zip = tmp_pb.with_suffix(".zip")
        try:  # the shared helper: timeouts, bounded retries, one-line error (the SHA-1 is the .pb's, below)
            fetch(url, tmp_zip, what="the DeepSpeech graph", progress=progress,
                  hand_path=f"{target} (the .pb inside the zip)",
                  put_hint="or pass a graph with --deepspeech_graph PATH",
                  offline_hint="--audio_backend mfcc (or --offline)")
            _unzip_member(tmp_zip, DEEPSPEECH_FILE, tmp_pb, url)
        finally:
            tmp_zip.unlink(missing_ok=True)
        found = file_sha1(tmp_pb)
        if found != sha1:
            raise StepError(f"the DeepSpeech graph downloaded from {url} has SHA-1 {found}, expected {sha1} "
                            f"(corrupt or changed download); nothing was saved at {target}: try again, or "
                            f"{OFFLINE_HINT}")
    return target


def _unzip_member(archive: Path, name: str, dest: Path, url: str) -> None:
    """The member ``name`` of a zip (or its only .pb) -> dest; StepError for a file that is not such a zip."""
    try:
        with zipfile.ZipFile(archive) as z:
            names = z.namelist()
            member = name if name in names else next((n for n in names if n.endswith(".pb")), None)
            if member is None:
                raise StepError(f"the zip downloaded from {url} holds no .pb graph ({', '.join(names)})")
            with z.open(member) as src, open(dest, "wb") as out:
                for block in iter(lambda: src.read(1 << 20), b""):
                    out.write(block)
    except zipfile.BadZipFile as exc:
        raise StepError(f"the file downloaded from {url} is not a zip archive ({exc}); try again, or "
                        f"{OFFLINE_HINT}") from exc


def import_tensorflow():
    """The tensorflow module, imported on first use (seconds, hundreds of MB: only the deepspeech path needs it).

    torch's triton library (loaded by torch._dynamo, i.e. by the first torch optimizer) segfaults the
    process when it is loaded after TensorFlow (both carry LLVM); loaded before, both work. So it is loaded
    first here, and a process may then use torch and TensorFlow in any order.
    """
    if "tensorflow" not in sys.modules and importlib.util.find_spec("triton") is not None:
        with contextlib.suppress(Exception):
            importlib.import_module("triton._C.libtriton")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # silence TensorFlow's start-up chatter
    import tensorflow as tf
    return tf


def run_deepspeech_graph(inputs: np.ndarray, graph_path: str | os.PathLike) -> np.ndarray:
    """Raw DeepSpeech logits of one utterance.

    inputs: float [T, 494] (19 context rows x 26 MFCC, normalised; see audio_features.deepspeech_input).
    graph_path: a frozen TF1 GraphDef (.pb) with nodes input_node [1, T, 494] float, input_lengths [1] int
    and logits [T, 1, 29]; it is imported under the name scope "deepspeech", as the original does.
    Returns float32 [T, 29] (characters a-z, space, apostrophe, CTC blank; not softmaxed).
    """
    graph_path = Path(graph_path)
    if not graph_path.is_file():
        raise StepError(f"DeepSpeech graph not found: {graph_path}")
    tf = import_tensorflow()
    tf1 = tf.compat.v1
    graph_def = tf1.GraphDef()
    try:
        graph_def.ParseFromString(graph_path.read_bytes())
    except Exception as exc:
        raise StepError(f"{graph_path} is not a TensorFlow frozen graph (.pb): {exc}; delete it to download "
                        f"it again, {OFFLINE_HINT}") from exc
    graph = tf.Graph()
    try:
        with graph.as_default():
            tf1.import_graph_def(graph_def, name="deepspeech")
    except (ValueError, TypeError, tf.errors.OpError) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StepError(f"TensorFlow cannot load the graph {graph_path}: {message}; {OFFLINE_HINT}") from exc
    names = {op.name for op in graph.get_operations()}
    prefix = "deepspeech/deepspeech/" if "deepspeech/deepspeech/logits" in names else "deepspeech/"
    missing = [t for t in (INPUT, LENGTHS, LOGITS) if prefix + t.split("/", 1)[1].split(":")[0] not in names]
    if missing:
        raise StepError(f"{graph_path} lacks the DeepSpeech tensors {', '.join(missing)}: not a DeepSpeech 0.1.0 "
                        f"graph")
    feed = {prefix + "input_node:0": np.asarray(inputs, np.float32)[None],
            prefix + "input_lengths:0": np.array([len(inputs)], np.int32)}
    with tf1.Session(graph=graph) as session:
        logits = session.run(prefix + "logits:0", feed_dict=feed)
    logits = np.asarray(logits, np.float32)
    if logits.ndim != 3 or logits.shape[0] != len(inputs) or logits.shape[1] != 1:
        raise StepError(f"{graph_path} gave logits of shape {logits.shape} for {len(inputs)} input rows; "
                        f"expected [{len(inputs)}, 1, channels]")
    return logits[:, 0]
