"""Step 0 (audio): aud.wav, aud.npy [N, 16, C] with both backends, the original's windowing, the DeepSpeech
download / checksum / in-process graph path (on a tiny graph made here), errors, idempotence, and driving a
trained model with a .wav."""
import json
import os
import subprocess
import sys
import wave
import zipfile

import numpy as np
import pytest

from data_util import audio_features as af
from data_util import deepspeech_graph as dg
from data_util.common import StepError
from tests.media_samples import write_video, write_wav


def tiny_deepspeech_graph(path, offset=1.0):
    """A frozen TF1 graph with DeepSpeech's node names whose logits [T, 1, 29] are easy to predict:
    channels 0-23 = t + offset + c / 100 (t = input row), 24 = input[t, 10 * 26] (c0 of the next MFCC row),
    25 = input[t, 9 * 26] (c0 of the centre row), 26 = input_lengths[0], 27 = sum of input row t,
    28 = mean square of input row t."""
    tf = dg.import_tensorflow()  # as the product does it: torch's triton first (see import_tensorflow)
    tf1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        x = tf1.placeholder(tf.float32, [1, None, 494], name="input_node")
        lengths = tf1.placeholder(tf.int32, [None], name="input_lengths")
        rows = x[0]
        t = tf.cast(tf.range(tf.shape(rows)[0]), tf.float32)[:, None]
        timeline = t + offset + tf.constant(np.arange(24) / 100.0, tf.float32)[None, :]
        length = tf.zeros_like(t) + tf.cast(lengths[0], tf.float32)
        logits = tf.concat([timeline, rows[:, 10 * 26:10 * 26 + 1], rows[:, 9 * 26:9 * 26 + 1], length, tf.reduce_sum(rows, 1, keepdims=True),
                            tf.reduce_mean(tf.square(rows), 1, keepdims=True)], axis=1)
        tf.identity(logits[:, None, :], name="logits")
    path.write_bytes(graph.as_graph_def().SerializeToString(deterministic=True))
    return path


@pytest.fixture(scope="module")
def tiny_graph(tmp_path_factory):
    d = tmp_path_factory.mktemp("graph")
    pb = tiny_deepspeech_graph(d / dg.DEEPSPEECH_FILE)
    with zipfile.ZipFile(d / "graph.pb.zip", "w") as z:
        z.write(pb, dg.DEEPSPEECH_FILE)
    return {"pb": pb, "zip": d / "graph.pb.zip", "url": (d / "graph.pb.zip").as_uri(), "sha1": dg.file_sha1(pb)}


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    d = tmp_path_factory.mktemp("videos")
    stereo = write_wav(d / "stereo.wav", 2.0, rate=44100, channels=2)
    return {"v30": write_video(d / "v30.mp4", 2.0, 30, stereo), "v25": write_video(d / "v25.mp4", 2.0, 25, stereo),
            "silent": write_video(d / "silent.mp4", 1.0, 25)}


def test_windows_follow_the_original_timeline_padding_and_rounding():
    rows = np.arange(1, 8, dtype=float)[:, None] * [1.0, -1.0]  # 7 rows at 50 / s, 2 channels
    # K = round(7) = 7 timeline rows; the original drops the last one before padding -> ceil(6 / 2) = 3 windows
    w = af.rows_to_windows(rows, seconds=7 / 50)
    assert w.shape == (3, 16, 2)
    for n in range(3):
        for j in range(16):
            k = 2 * n - 8 + j  # window n holds timeline rows 2n-8 .. 2n+7, zeros outside 0 .. K-2
            assert w[n, j, 0] == (k + 1 if 0 <= k < 6 else 0) and w[n, j, 1] == -w[n, j, 0]
    held = af.rows_to_windows(rows, seconds=7 / 50, num_frames=6)  # 12 timeline rows: the last row is held ...
    assert held.shape == (6, 16, 2) and held[3, 8, 0] == 7 and held[5, 8, 0] == 7
    assert held[5, 9, 0] == 0 and held[5, 10, 0] == 0  # ... and row 11, the last, dropped as the original
    assert af.rows_to_windows(rows, seconds=0.139).shape[0] == 3  # round(6.95) = 7


def test_mfcc_backend_by_hand_channel_zero_of_a_stereo_file_and_resampling(tmp_path):
    from python_speech_features import mfcc
    wav = write_wav(tmp_path / "a.wav", 2.0)
    feats = af.compute_features(wav, "mfcc")
    assert feats.shape == (50, 16, 26) and feats.dtype == np.float32
    audio = np.frombuffer(wave.open(str(wav)).readframes(32000), np.int16)
    rows = mfcc(audio, samplerate=16000, numcep=26)[::2]
    expected = (rows - rows.mean(0)) / rows.std(0)
    timeline = feats[:, 8:10].reshape(100, 26)  # rows 8, 9 of window n = timeline rows 2n, 2n+1
    np.testing.assert_allclose(timeline[:99], expected[:99], atol=1e-4)
    assert not timeline[99].any()  # the last timeline row is dropped, as the original does
    assert 1.0 < np.abs(feats).max() < 10.0  # a few units, like DeepSpeech logits
    stereo = write_wav(tmp_path / "s.wav", 2.0, channels=2, right_silent=True)
    np.testing.assert_array_equal(af.compute_features(stereo, "mfcc"), feats)  # channel 0, as the original
    resampled = af.compute_features(write_wav(tmp_path / "r.wav", 2.0, rate=44100), "mfcc")
    assert resampled.shape == (50, 16, 26) and np.corrcoef(resampled[:, 8, 0], feats[:, 8, 0])[0, 1] > 0.95


def test_mfcc_features_follow_loudness():
    import tempfile
    from pathlib import Path
    with tempfile.TemporaryDirectory() as d:
        feats = af.compute_features(write_wav(Path(d) / "b.wav", 2.0, bursts=True), "mfcc")
    energy = feats[:, 8, 0]  # c0 = log energy at each frame's centre
    frame_time = np.arange(50) / 25 + 0.0125
    on = (np.floor(frame_time / 0.2) % 2 == 0)
    edges = np.abs(frame_time / 0.2 - np.round(frame_time / 0.2)) < 0.1  # frames on a switch are ambiguous
    assert energy[on & ~edges].min() > energy[~on & ~edges].max() + 1.0


def test_deepspeech_path_with_a_tiny_graph_matches_values_computed_by_hand(tiny_graph, tmp_path):
    wav = write_wav(tmp_path / "a.wav", 2.0)  # 32000 samples: 199 MFCC frames, T = 100 rows, K = 100
    feats = af.compute_features(wav, "deepspeech", graph_path=tiny_graph["pb"])
    assert feats.shape == (50, 16, 29)
    timeline = feats[:, 8:10].reshape(100, 29)[:99]  # the last timeline row is dropped, as the original
    k = np.arange(99)[:, None]
    np.testing.assert_allclose(timeline[:, :24], k + 1 + np.arange(24)[None] / 100, atol=1e-4)
    from python_speech_features import mfcc
    c0 = mfcc(np.frombuffer(wave.open(str(wav)).readframes(32000), np.int16), 16000, numcep=26)[::2, 0]
    assert np.corrcoef(timeline[:, 25], c0[:99])[0, 1] > 0.99999  # the centre row, up to the global normalisation
    np.testing.assert_allclose(timeline[:-1, 24], timeline[1:, 25], atol=1e-5)  # context rows in time order
    assert np.all(timeline[:, 26] == 100)  # input_lengths = [T]
    assert np.all(feats[0, :8] == 0) and np.all(feats[-1, 10:] == 0)  # zero padding at both ends
    aligned = af.compute_features(wav, "deepspeech", graph_path=tiny_graph["pb"], num_frames=53)
    assert aligned.shape == (53, 16, 29) and aligned[52, 8, 0] == pytest.approx(100.0)  # last row held
    every_row = aligned[:, 8:10].reshape(106, 29)[:100]  # all 100 network rows (106 - 1 kept, 100 distinct)
    assert abs(every_row[:, 27].sum()) < 1e-2 * 100  # globally normalised input: total sum 0 ...
    assert abs(every_row[:, 28].mean() - 1.0) < 1e-4  # ... and mean square 1


def test_download_is_checked_cached_and_failures_say_what_to_do(tiny_graph, tmp_path, monkeypatch):
    cache = tmp_path / "models"
    path = dg.fetch_deepspeech_graph(cache, url=tiny_graph["url"], sha1=tiny_graph["sha1"], progress=False)
    assert path == cache / dg.DEEPSPEECH_FILE and dg.file_sha1(path) == tiny_graph["sha1"]
    assert sorted(p.name for p in cache.iterdir()) == [dg.DEEPSPEECH_FILE]  # no temporary files left
    gone = (tmp_path / "gone.zip").as_uri()
    assert dg.fetch_deepspeech_graph(cache, url=gone, sha1=tiny_graph["sha1"]) == path  # cached: no download
    with pytest.raises(StepError) as err:  # the real SHA-1 does not match the tiny graph
        dg.fetch_deepspeech_graph(tmp_path / "other", url=tiny_graph["url"], progress=False)
    assert f"expected {dg.DEEPSPEECH_SHA1}" in str(err.value) and "--audio_backend mfcc" in str(err.value)
    assert not any((tmp_path / "other").iterdir())
    monkeypatch.setenv("ADNERF_DEEPSPEECH_DIR", str(tmp_path / "env_cache"))
    with pytest.raises(StepError) as err:
        dg.fetch_deepspeech_graph(url=gone, progress=False)
    message = str(err.value)
    assert gone in message and str(tmp_path / "env_cache" / dg.DEEPSPEECH_FILE) in message
    assert "--audio_backend mfcc" in message and "--offline" in message and "\n" not in message
    not_a_graph = tmp_path / "junk.pb"
    not_a_graph.write_bytes(b"\xff" * 64)
    with pytest.raises(StepError, match="not a TensorFlow frozen graph"):
        dg.run_deepspeech_graph(np.zeros((3, 494)), not_a_graph)


def test_run_audio_deepspeech_downloads_and_aligns_with_the_frames(tiny_graph, videos, tmp_path, monkeypatch):
    monkeypatch.setattr(dg, "DEEPSPEECH_URL", tiny_graph["url"])
    monkeypatch.setattr(dg, "DEEPSPEECH_SHA1", tiny_graph["sha1"])
    record = af.run_audio(tmp_path, video=videos["v30"], model_dir=tmp_path / "cache", progress=False)
    assert record["backend"] == "deepspeech" and record["channels"] == 29 and record["frames"] == 50
    assert record["graph_sha1"] == tiny_graph["sha1"] and (tmp_path / "cache" / dg.DEEPSPEECH_FILE).is_file()
    assert np.load(tmp_path / "aud.npy").shape == (50, 16, 29)
    with wave.open(str(tmp_path / "aud.wav")) as w:
        assert (w.getnchannels(), w.getframerate(), w.getsampwidth()) == (2, 16000, 2)  # channels kept, as the original
        assert abs(w.getnframes() / 16000 - 2.0) < 0.05
    print(f"deepspeech (tiny graph) step 0: {record['seconds_per_frame']:.4f} s/frame")
    (tmp_path / "preprocess.json").write_text(json.dumps({"steps": {"audio": record}}))
    monkeypatch.setattr(dg, "DEEPSPEECH_URL", (tmp_path / "offline.zip").as_uri())  # a re-run needs no download
    again = af.run_audio(tmp_path, video=videos["v30"], model_dir=tmp_path / "empty_cache", progress=False)
    assert again["skipped"] and again["graph_sha1"] == tiny_graph["sha1"]
    same = tiny_deepspeech_graph(tmp_path / "same.pb")  # the same graph in another file: kept
    assert af.run_audio(tmp_path, video=videos["v30"], deepspeech_graph=same, progress=False)["skipped"]
    other = tiny_deepspeech_graph(tmp_path / "other.pb", offset=5.0)  # another graph: features redone
    redone = af.run_audio(tmp_path, video=videos["v30"], deepspeech_graph=other, progress=False)
    assert not redone["skipped"] and np.load(tmp_path / "aud.npy")[0, 8, 0] == pytest.approx(5.0)


def test_run_audio_mfcc_is_idempotent_and_redoes_on_force_or_backend_change(tiny_graph, videos, tmp_path):
    from data_util.frames import run_frames
    record = af.run_audio(tmp_path, video=videos["v30"], backend="mfcc", progress=False)
    frames = run_frames(tmp_path, video=videos["v30"], progress=False)
    assert np.load(tmp_path / "aud.npy").shape == (frames["frames"], 16, 26) == (50, 16, 26)
    assert record["channels"] == 26 and not record["skipped"] and "warning" not in record
    print(f"mfcc step 0: {record['seconds_per_frame']:.4f} s/frame, step 1: {frames['seconds_per_frame']:.4f} s/frame")
    npy, wav = tmp_path / "aud.npy", tmp_path / "aud.wav"
    os.utime(npy, (1, 1)), os.utime(wav, (1, 1))
    assert af.run_audio(tmp_path, video=videos["v30"], backend="mfcc", progress=False)["skipped"]
    assert npy.stat().st_mtime == 1 and wav.stat().st_mtime == 1
    (tmp_path / "preprocess.json").write_text(json.dumps({"steps": {"audio": {"backend": "mfcc"}}}))
    switched = af.run_audio(tmp_path, video=videos["v30"], deepspeech_graph=tiny_graph["pb"], progress=False)
    assert not switched["skipped"] and np.load(npy).shape == (50, 16, 29) and wav.stat().st_mtime == 1
    forced = af.run_audio(tmp_path, video=videos["v30"], backend="mfcc", force=True, progress=False)
    assert not forced["skipped"] and wav.stat().st_mtime > 1 and np.load(npy).shape[-1] == 26


@pytest.mark.filterwarnings("ignore:Chunk")
def test_run_audio_errors_are_clear_and_come_before_any_work(videos, tmp_path):
    with pytest.raises(StepError, match=r"silent\.mp4 has no audio stream"):
        af.run_audio(tmp_path, video=videos["silent"], backend="mfcc", progress=False)
    with pytest.raises(StepError, match="unknown audio backend 'wav2vec'"):
        af.run_audio(tmp_path, video=videos["v25"], backend="wav2vec", progress=False)
    assert not list(tmp_path.iterdir())
    (tmp_path / "x.wav").write_bytes(b"RIFF0000WAVEjunk")
    with pytest.raises(StepError, match=r"cannot read .*x\.wav as a \.wav"):
        af.compute_features(tmp_path / "x.wav", "mfcc")


def test_dataset_audio_options_read_preprocess_json(tmp_path, tiny_graph):
    assert af.dataset_audio_options(tmp_path) == {"backend": "deepspeech", "graph_path": None,
                                                  "audio_channel": "first"}
    (tmp_path / "preprocess.json").write_text(json.dumps({"steps": {"frames": {}}}))
    assert af.dataset_audio_options(tmp_path)["backend"] == "deepspeech"
    (tmp_path / "preprocess.json").write_text(json.dumps(
        {"steps": {"audio": {"backend": "deepspeech", "graph": str(tiny_graph["pb"])}}}))
    assert af.dataset_audio_options(tmp_path)["graph_path"] == str(tiny_graph["pb"])
    (tmp_path / "preprocess.json").write_text(json.dumps({"steps": {"audio": {"backend": "mfcc",
                                                                             "audio_channel": "mix"}}}))
    assert af.dataset_audio_options(tmp_path) == {"backend": "mfcc", "graph_path": None, "audio_channel": "mix"}


def test_tensorflow_is_not_imported_for_the_mfcc_path(tmp_path):
    wav = write_wav(tmp_path / "a.wav", 0.5)
    code = ("import sys; from data_util.audio_features import compute_features; "
            f"print(compute_features({str(wav)!r}, 'mfcc').shape, 'tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["(12,", "16,", "26)", "False"]  # K = 25 rows, the last dropped: 12


def test_torch_optimizers_still_work_after_tensorflow_ran_in_the_process(tiny_graph, tmp_path):
    """torch's first optimizer loads triton, which segfaulted the process once TensorFlow was loaded;
    import_tensorflow loads triton first (the tiny_graph fixture used it, then the graph runs here)."""
    import sys as _sys
    import torch
    assert af.compute_features(write_wav(tmp_path / "a.wav", 0.3), "deepspeech", tiny_graph["pb"]).shape[-1] == 29
    assert "tensorflow" in _sys.modules
    net = torch.nn.Linear(2, 1)
    optimizer = torch.optim.Adam(net.parameters(), lr=0.1)
    net(torch.ones(1, 2)).sum().backward()
    before = net.weight.detach().clone()
    optimizer.step()
    assert not torch.equal(before, net.weight)


def test_driving_a_trained_model_with_a_wav_uses_the_dataset_backend(tmp_path):
    from NeRFs.core.config import parse_args
    from NeRFs.TorsoNeRF.run_nerf import drive_command, driving_features as load_driving_features
    from NeRFs.core.head import HeadTrainer
    from NeRFs.core.torso import TorsoTrainer
    from adnerf.sequence_record import read_sequence_record
    from tests.support import make_args
    from data_util.synthetic_head import make_synthetic_dataset
    root = make_synthetic_dataset(tmp_path / "synth", n_frames=22, size=16, aud_channels=26)
    (root / "preprocess.json").write_text(json.dumps({"steps": {"audio": {"backend": "mfcc"}}}))
    wav = write_wav(tmp_path / "new.wav", 1.0)
    feats = load_driving_features(str(wav), str(root))
    assert tuple(feats.shape) == (25, 16, 26)
    small = {"netwidth": 32, "netwidth_fine": 32, "N_rand": 64, "N_samples": 8, "N_importance": 8, "N_iters": 2}
    HeadTrainer(make_args(root, tmp_path / "logs", **small)).fit()
    TorsoTrainer(make_args(root, tmp_path / "logs", kind="torso", **small)).fit()
    args = parse_args(["--config", str(root / "TorsoNeRFTest_config.txt"), "--basedir", str(tmp_path / "logs"),
                       "--device", "cpu", "--N_samples", "8", "--N_importance", "8", "--netwidth", "32",
                       "--netwidth_fine", "32", "--aud_file", str(wav), "--test_size", "4"], "torso")
    drive_command(args)
    out = tmp_path / "logs" / "synth_com" / "test_aud_rst"
    record = read_sequence_record(out)
    assert [f.aud_id for f in record.frames] == [0, 1, 2, 3] and all(p.is_file() for p in record.paths())
    assert (out / "video.mp4").is_file()


def _stereo(path, left, right, rate=16000):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2), w.setsampwidth(2), w.setframerate(rate)
        w.writeframes(np.stack([left, right], 1).astype(np.int16).tobytes())
    return path


def test_audio_channel_first_by_default_mix_on_request_and_a_warning_for_a_silent_first(tmp_path, capsys):
    t = np.arange(16000) / 16000
    tone = (8000 * np.sin(2 * np.pi * 220 * t)).astype(np.int16)
    other = (6000 * np.sin(2 * np.pi * 330 * t)).astype(np.int16)
    wav = _stereo(tmp_path / "differ.wav", tone, other)
    np.testing.assert_array_equal(af.read_wav(wav)[0], tone)  # the original's: channel 0
    np.testing.assert_allclose(af.read_wav(wav, "mix")[0], (tone.astype(float) + other) / 2, atol=1)
    assert "warning" not in capsys.readouterr().err
    silent_first = _stereo(tmp_path / "silent_first.wav", np.zeros_like(tone), tone)
    assert not af.read_wav(silent_first)[0].any()
    assert "first audio channel" in capsys.readouterr().err  # told on the console, with the way out
    assert af.read_wav(silent_first, "mix")[0].any()
    with pytest.raises(StepError, match="first, mix"):
        af.read_wav(wav, "left")


def test_step0_keeps_the_channels_and_driving_follows_the_datasets_choice(tmp_path):
    from NeRFs.TorsoNeRF.run_nerf import driving_features as load_driving_features
    wav = write_wav(tmp_path / "s.wav", 2.0, channels=2, right_silent=True)  # channels differ
    video = write_video(tmp_path / "v.mp4", 2.0, 25, wav)
    data = tmp_path / "d"
    data.mkdir()
    record = af.run_audio(data, video=video, backend="mfcc", progress=False)
    assert record["audio_channel"] == "first"
    with wave.open(str(data / "aud.wav")) as w:
        assert w.getnchannels() == 2  # as the original's ffmpeg -i VIDEO -f wav -ar 16000
    first = np.load(data / "aud.npy")
    np.testing.assert_array_equal(first, af.compute_features(data / "aud.wav", "mfcc", num_frames=50))
    af.run_audio(data, video=video, backend="mfcc", progress=False, force=True, audio_channel="mix")
    mixed = np.load(data / "aud.npy")
    np.testing.assert_array_equal(mixed, af.compute_features(data / "aud.wav", "mfcc", num_frames=50,
                                                             audio_channel="mix"))
    assert np.abs(mixed - first).max() > 1e-3
    # driving with a .wav computes features with the dataset's recorded backend and channel policy
    (data / "preprocess.json").write_text(json.dumps({"steps": {"audio": {"backend": "mfcc", "audio_channel": "mix"}}}))
    driven = load_driving_features(str(wav), str(data)).numpy()
    np.testing.assert_array_equal(driven, af.compute_features(wav, "mfcc", audio_channel="mix"))
    assert np.abs(driven - af.compute_features(wav, "mfcc")).max() > 1e-3
