"""adnerf.download: a stalled server, retries, checksums, offline switch, disk full: bounded time, one line."""
import errno
import hashlib
import http.server
import socket
import threading
import time

import pytest

from adnerf import download
from adnerf.download import DownloadError, fetch, fetch_cached


@pytest.fixture
def stalled_server():
    """Accepts connections and never answers (a broken proxy or a dead mirror)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    held = []
    stop = threading.Event()

    def accept():
        sock.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except OSError:
                pass
    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/weights.pth"
    stop.set()
    t.join()
    for c in held:
        c.close()
    sock.close()


@pytest.fixture
def file_server(tmp_path):
    payload = b"weights" * 1000
    (tmp_path / "srv").mkdir()
    (tmp_path / "srv" / "w.pth").write_bytes(payload)
    calls = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=str(tmp_path / "srv"), **k)

        def do_GET(self):
            calls.append(self.path)
            if self.path.startswith("/flaky") and len(calls) < 2:
                self.send_error(503)
                return
            self.path = "/w.pth" if self.path.startswith("/flaky") else self.path
            super().do_GET()

        def log_message(self, *a):
            pass
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", payload, calls
    server.shutdown()
    server.server_close()


def test_stalled_server_gives_up_in_bounded_time(stalled_server, tmp_path):
    target = tmp_path / "cache" / "weights.pth"
    start = time.monotonic()
    with pytest.raises(DownloadError) as err:
        fetch(stalled_server, target, what="the test weights", offline_hint="--offline", connect_timeout=1,
              read_timeout=0.5, attempts=2, backoff=0.1, progress=False)
    assert time.monotonic() - start < 5
    msg = str(err.value)
    assert "\n" not in msg and stalled_server in msg and str(target) in msg and "--offline" in msg
    assert "timed out, 2 attempts" in msg
    assert not target.exists() and not list(target.parent.iterdir())    # no partial file


def test_download_checks_sha_and_retries_5xx(file_server, tmp_path):
    base, payload, calls = file_server
    sha = hashlib.sha256(payload).hexdigest()
    got = fetch(f"{base}/flaky", tmp_path / "w.pth", sha256=sha[:10], backoff=0.01, progress=False)
    assert got.read_bytes() == payload and len(calls) == 2
    with pytest.raises(DownloadError, match="SHA256 .* instead of 0000"):
        fetch(f"{base}/w.pth", tmp_path / "x.pth", sha256="0000", progress=False)
    assert not (tmp_path / "x.pth").exists()
    with pytest.raises(DownloadError, match="HTTP 404"):           # 4xx: no retry
        fetch(f"{base}/missing.pth", tmp_path / "y.pth", attempts=3, backoff=5, progress=False)
    assert fetch_cached(f"{base}/missing.pth", got, sha256=sha) == got   # cached and matching: no download


def test_offline_switch_never_connects(monkeypatch, tmp_path):
    monkeypatch.setenv("ADNERF_OFFLINE", "1")
    with pytest.raises(DownloadError, match="ADNERF_OFFLINE is set.*download it by hand to"):
        fetch("http://127.0.0.1:9/x", tmp_path / "x", progress=False)


def test_disk_full_says_no_space_and_leaves_nothing(file_server, tmp_path, monkeypatch):
    base, _, _ = file_server

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(download.os, "fsync", full)
    with pytest.raises(DownloadError, match=f"no space left on {tmp_path}"):
        fetch(f"{base}/w.pth", tmp_path / "w.pth", progress=False)
    assert list(tmp_path.iterdir()) == [tmp_path / "srv"]


def test_every_downloader_of_the_project_gives_up_on_a_stalled_server(stalled_server, tmp_path, monkeypatch):
    """The project's downloads all go through the helper: with short timeouts set in the environment, each
    fails in bounded time with the URL, the path to put the file at and its offline alternative."""
    from data_util import deepspeech_graph
    from data_util.common import StepError
    from data_util.face_parsing import weights as bisenet
    from data_util.face_tracking import convert_BFM
    from evaluation.weights import WeightsUnavailable, fetch_weights
    monkeypatch.setenv("ADNERF_READ_TIMEOUT", "0.3")
    monkeypatch.setenv("ADNERF_DOWNLOAD_RETRIES", "1")
    monkeypatch.setenv("ADNERF_WEIGHTS_DIR", str(tmp_path / "eval"))
    monkeypatch.setattr(convert_BFM, "AUX_URL", stalled_server + "/{}")
    cases = [
        (StepError, "--audio_backend mfcc",
         lambda: deepspeech_graph.fetch_deepspeech_graph(tmp_path / "ds", url=stalled_server, progress=False)),
        (StepError, "--parsing_backend mediapipe",
         lambda: bisenet.download_weights(stalled_server, tmp_path / "bisenet.pth", progress=False)),
        (WeightsUnavailable, "--syncnet_weights",
         lambda: fetch_weights("SyncNet", stalled_server, "syncnet_v2.model", option="--syncnet_weights")),
        (StepError, "--tracker rigid", lambda: convert_BFM.fetch_aux_files(tmp_path / "3DMM", timeout=0.3)),
    ]
    for error, hint, call in cases:
        start = time.monotonic()
        with pytest.raises(error) as err:
            call()
        assert time.monotonic() - start < 3, hint
        msg = str(err.value)
        assert "timed out" in msg and stalled_server in msg and hint in msg and "\n" not in msg, msg
