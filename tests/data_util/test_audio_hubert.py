"""The hubert audio backend on a tiny randomly initialised HuBERT built here: served by a local file server at
the hub's paths, downloaded, checked, cached and loaded by the product's own code; the 16-row windows; the
feature kind in preprocess.json and aud.json read back; the refusal of another kind of features."""
import functools
import hashlib
import http.server
import json
import os
import threading
import wave

import numpy as np
import pytest

from adnerf.errors import DownloadError
from data_util import audio_features as af
from data_util import feature_kind as fk
from data_util import speech_model as sm
from data_util.common import StepError
from tests.media_samples import write_video, write_wav

TINY = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
        "conv_dim": (8,) * 7, "num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 2,
        "feat_extract_norm": "layer", "do_stable_layer_norm": True, "conv_bias": True}  # as HuBERT-large's


def save_tiny_hubert(folder, seed=0, ctc=True, **changes):
    """A random HuBERT saved as the hub holds it: config.json, model.safetensors (of the CTC model, keys
    'hubert.*' and 'lm_head.*', when ctc), preprocessor_config.json. Returns the folder."""
    import torch
    os.environ.setdefault("USE_TF", "0")  # as the product imports it: without TensorFlow
    from transformers import HubertConfig, HubertForCTC, HubertModel
    torch.manual_seed(seed)
    config = HubertConfig(**{**TINY, **changes}, vocab_size=32)
    model = (HubertForCTC if ctc else HubertModel)(config).eval()
    model.save_pretrained(folder, safe_serialization=True)
    (folder / sm.PREPROCESSOR).write_text(json.dumps({"do_normalize": True, "sampling_rate": 16000,
                                                      "feature_extractor_type": "Wav2Vec2FeatureExtractor"}))
    return folder


@pytest.fixture(scope="module")
def tiny_hub(tmp_path_factory):
    """A local server with the tiny model's files at /<repo>/resolve/<revision>/<file>; yields
    (base URL, weights SHA-256, list of requested paths)."""
    root = tmp_path_factory.mktemp("hub")
    model = save_tiny_hubert(tmp_path_factory.mktemp("tiny"))
    for name, (revision, _) in sm.HUBERT_FILES.items():
        target = root / sm.HUBERT_REPO / "resolve" / revision / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((model / name).read_bytes())
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

        def log_message(self, *a):
            pass
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sha = hashlib.sha256((model / sm.WEIGHTS).read_bytes()).hexdigest()
    yield f"http://127.0.0.1:{server.server_address[1]}", sha, requests
    server.shutdown()
    server.server_close()


@pytest.fixture
def hub_env(tiny_hub, tmp_path, monkeypatch):
    """The product pointed at the tiny hub (ADNERF_HUBERT_URL) and a fresh cache (ADNERF_HUBERT_DIR), with the
    tiny weights' SHA-256 in place of the published one."""
    base, sha, requests = tiny_hub
    monkeypatch.setenv("ADNERF_HUBERT_URL", base)
    monkeypatch.setenv("ADNERF_HUBERT_DIR", str(tmp_path / "cache"))
    monkeypatch.setitem(sm.HUBERT_FILES, sm.WEIGHTS, (sm.HUBERT_WEIGHTS_REVISION, sha))
    requests.clear()
    return tmp_path / "cache" / "facebook--hubert-large-ls960-ft" / sm.HUBERT_REVISION, requests


def test_urls_are_the_hubs_at_pinned_revisions():
    assert sm.file_url(sm.CONFIG, "https://huggingface.co") == ("https://huggingface.co/facebook/hubert-large-ls960-ft/"
                                                               "resolve/ece5fabbf034c1073acae96d5401b25be96709d8/config.json")
    assert sm.file_url(sm.WEIGHTS, "https://huggingface.co").endswith(
        "/resolve/ba42e7f7a888fd65f7af7849c452e3e7d5216aad/model.safetensors")
    assert len(sm.HUBERT_REVISION) == 40 and len(sm.HUBERT_WEIGHTS_SHA256) == 64


def test_download_cache_and_load_give_windows_of_the_right_shape(hub_env, tmp_path, device):
    folder, requests = hub_env
    wav = write_wav(tmp_path / "a.wav", 2.0)  # 32000 samples
    feats = af.compute_features(wav, "hubert", device=str(device))
    assert feats.shape == (50, 16, 32) and feats.dtype == np.float32 and np.isfinite(feats).all()
    assert sorted(p.name for p in folder.iterdir()) == sorted(sm.HUBERT_FILES)  # no partial files
    assert len(requests) == 3 and any(sm.HUBERT_WEIGHTS_REVISION in r for r in requests)
    audio = np.frombuffer(wave.open(str(wav)).readframes(32000), np.int16)
    rows = sm.speech_model_rows(audio, folder, str(device))
    assert rows.shape == (100, 32) and np.abs(rows).max() > 0.1  # one row per 320 samples: 50 per second
    np.testing.assert_allclose(feats, af.rows_to_windows(rows, 2.0).astype(np.float32), atol=1e-5)
    assert np.abs(feats[:, 8] - rows[0:100:2]).max() < 1e-4  # window n centred on row 2n, as DeepSpeech's
    again = af.compute_features(wav, "hubert", device=str(device))
    assert len(requests) == 3 and np.allclose(again, feats, atol=1e-4)  # cached: no download


def test_loading_keeps_tensorflow_out_of_the_process(tmp_path):
    """transformers imports TensorFlow when it finds it (seconds; and torch's triton must be loaded before it)."""
    import subprocess
    import sys
    folder = save_tiny_hubert(tmp_path / "m", ctc=False, num_hidden_layers=1)
    code = ("import sys; from data_util.speech_model import load_speech_model; "
            f"load_speech_model({str(folder)!r}, 'cpu'); print('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={k: v for k, v in os.environ.items() if k != "USE_TF"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-1] == "False"


def test_chunks_see_the_same_sound_as_one_pass(tmp_path):
    """Without attention layers every output row depends only on nearby sound (conv encoder, 16-tap positional
    conv), so chunking with enough context must give the one-pass rows exactly: the chunk arithmetic is right."""
    folder = save_tiny_hubert(tmp_path / "local", ctc=False, num_hidden_layers=0)
    audio = np.frombuffer(wave.open(str(write_wav(tmp_path / "a.wav", 1.3))).readframes(-1), np.int16)
    whole = sm.speech_model_rows(audio, folder, "cpu", chunk_rows=10 ** 6)
    chunked = sm.speech_model_rows(audio, folder, "cpu", chunk_rows=17, context_rows=10)
    assert whole.shape == (65, 32) and sm.receptive_field(json.loads((folder / sm.CONFIG).read_text())) == 400
    np.testing.assert_allclose(chunked, whole, atol=1e-5)


def test_a_checksum_mismatch_is_refused_and_nothing_kept(tiny_hub, tmp_path, monkeypatch):
    monkeypatch.setenv("ADNERF_HUBERT_URL", tiny_hub[0])  # the published SHA-256 does not match the tiny model
    with pytest.raises(DownloadError) as err:
        sm.fetch_speech_model(tmp_path / "cache", progress=False)
    message = str(err.value)
    assert f"instead of {sm.HUBERT_WEIGHTS_SHA256}" in message and "nothing was saved" in message
    assert "--audio_backend mfcc" in message and "\n" not in message
    folder = tmp_path / "cache" / "facebook--hubert-large-ls960-ft" / sm.HUBERT_REVISION
    assert not (folder / sm.WEIGHTS).exists() and not [p for p in folder.iterdir() if p.name.startswith(".")]


def test_offline_error_names_the_url_the_path_and_the_alternative(tmp_path, monkeypatch):
    monkeypatch.setenv("ADNERF_OFFLINE", "1")
    monkeypatch.delenv("ADNERF_HUBERT_URL", raising=False)
    monkeypatch.setenv("ADNERF_HUBERT_DIR", str(tmp_path / "hub_cache"))
    with pytest.raises(StepError) as err:  # DownloadError is an AdnerfError (= StepError): one line
        af.compute_features(write_wav(tmp_path / "a.wav", 0.5), "hubert")
    message = str(err.value)
    expected = tmp_path / "hub_cache" / "facebook--hubert-large-ls960-ft" / sm.HUBERT_REVISION / sm.CONFIG
    assert sm.file_url(sm.CONFIG, sm.HUB_URL) in message and str(expected) in message
    assert "--audio_backend mfcc (or --offline)" in message and "\n" not in message


def test_a_folder_that_is_not_a_speech_model_is_refused(tmp_path):
    folder = save_tiny_hubert(tmp_path / "m", ctc=False)
    config = json.loads((folder / sm.CONFIG).read_text())
    (folder / sm.CONFIG).write_text(json.dumps({**config, "conv_stride": [5, 2, 2, 2, 2, 2, 1]}))
    with pytest.raises(StepError, match="do not give one row every 320 samples"):
        sm.load_speech_model(folder, "cpu")
    (folder / sm.CONFIG).write_text(json.dumps({**config, "model_type": "bert"}))
    with pytest.raises(StepError, match="model_type 'bert': not a hubert or wav2vec2 model"):
        sm.load_speech_model(folder, "cpu")


def test_step0_records_the_kind_in_preprocess_json_and_beside_aud_npy(hub_env, tmp_path):
    from data_util import process_data
    _, requests = hub_env
    root = tmp_path / "dataset"
    video = write_video(tmp_path / "v.mp4", 1.0, 25, write_wav(tmp_path / "s.wav", 1.0))
    argv = ["--id", "p", "--step", "0", "--dataset_root", str(root), "--video", str(video), "--audio_backend",
            "hubert", "--device", "cpu", "--no_progress"]
    assert process_data.main(argv) == 0
    data = root / "p"
    step = json.loads((data / "preprocess.json").read_text())["steps"]["audio"]
    kind = {"backend": "hubert", "model": "facebook/hubert-large-ls960-ft",
            "revision": f"{sm.HUBERT_REVISION} (weights sha256 {sm.HUBERT_WEIGHTS_SHA256[:16]})", "channels": 32}
    assert step["feature_kind"] == kind and step["status"] == "done" and step["options"]["device"] == "cpu"
    assert sorted(step["model_files_sha256"]) == sorted(sm.HUBERT_FILES)
    assert np.load(data / "aud.npy").shape == (25, 16, 32)
    sidecar = json.loads((data / "aud.json").read_text())
    assert sidecar == {"feature_kind": kind, "features": "aud.npy", "frames": 25, "audio_channel": "first"}
    assert fk.dataset_feature_kind(data) == kind and af.dataset_audio_options(data)["backend"] == "hubert"
    fk.check_feature_kind(data / "aud.npy", data)  # the dataset's own features: accepted
    count = len(requests)
    assert process_data.main(argv) == 0  # kept: same kind, no download
    assert json.loads((data / "preprocess.json").read_text())["steps"]["audio"]["skipped"] is True
    assert len(requests) == count


def _dataset(folder, kind, channels):
    folder.mkdir(parents=True)
    (folder / "preprocess.json").write_text(json.dumps({"steps": {"audio": {"backend": kind["backend"],
                                                                            "feature_kind": kind}}}))
    np.save(folder / "aud.npy", np.zeros((4, 16, channels), np.float32))
    return folder


def test_features_of_another_kind_are_refused_in_one_line(tmp_path):
    hubert = fk.feature_kind("hubert", channels=32)
    data = _dataset(tmp_path / "d", hubert, 32)
    other = tmp_path / "mfcc.npy"
    np.save(other, np.zeros((4, 16, 26), np.float32))
    fk.write_sidecar(other, fk.feature_kind("mfcc"))
    with pytest.raises(StepError) as err:
        fk.check_feature_kind(other, data)
    message = str(err.value)
    assert "holds mfcc (26 channels) features" in message and "trained on hubert (facebook/hubert-large" in message
    assert "backend, model, channels differ" in message and "\n" not in message
    (tmp_path / "mfcc.json").unlink()  # no sidecar: the width still tells
    with pytest.raises(StepError, match=r"holds unrecorded \(26 channels\) features.*channels differs"):
        fk.check_feature_kind(other, data)
    same = tmp_path / "same.npy"
    np.save(same, np.ones((9, 16, 32), np.float32))
    fk.write_sidecar(same, {**hubert, "revision": "0" * 40})  # another revision of the model
    with pytest.raises(StepError, match="revision differs"):
        fk.check_feature_kind(same, data)
    fk.write_sidecar(same, hubert)
    fk.check_feature_kind(same, data)  # the same kind: accepted
    fk.check_feature_kind(other, tmp_path)  # no record of step 0 (e.g. the original's dataset): not checked


def test_a_dataset_whose_aud_npy_is_not_its_recorded_kind_is_refused(tmp_path):
    data = _dataset(tmp_path / "d", fk.feature_kind("hubert"), 29)  # preprocess.json: hubert, aud.npy: 29
    with pytest.raises(StepError, match=r"aud\.npy holds 29 channels, but .*preprocess\.json records hubert "
                                        r"\(facebook/hubert-large-ls960-ft, 1024 channels\) features: the dataset "
                                        r"is inconsistent; re-run preprocessing step 0 with --force"):
        fk.check_feature_kind(tmp_path / "new.wav", data)


def test_driving_refuses_a_npy_of_another_kind(tmp_path):
    from NeRFs.TorsoNeRF.run_nerf import driving_features
    from NeRFs.core.utils import UserError
    data = _dataset(tmp_path / "d", fk.feature_kind("mfcc"), 26)
    deepspeech = tmp_path / "ds.npy"
    np.save(deepspeech, np.zeros((4, 16, 29), np.float32))
    with pytest.raises(UserError, match=r"ds\.npy holds unrecorded \(29 channels\) features, but the model of .* "
                                        r"was trained on mfcc \(26 channels\)"):
        driving_features(str(deepspeech), str(data))
    assert tuple(driving_features(str(data / "aud.npy"), str(data)).shape) == (4, 16, 26)


def test_a_wav_to_drive_a_dataset_of_another_hubert_revision_is_refused(tmp_path):
    data = _dataset(tmp_path / "d", {**fk.feature_kind("hubert"), "revision": "1" * 40}, 1024)
    with pytest.raises(StepError, match="revision"):
        af.dataset_audio_options(data)
