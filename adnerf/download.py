"""The one download helper of the project: timeouts, bounded retries, checksums, atomic files, one-line errors.

    fetch(url, target, what="the BiSeNet weights", sha256=..., offline_hint="--parsing_backend mediapipe")

Every download (DeepSpeech graph, FAN / S3FD, BiSeNet, LPIPS / FID / SyncNet weights, BFM auxiliary files)
goes through ``fetch`` so that none can hang: a server that accepts the connection and never answers is
given up after ``read_timeout`` seconds per attempt, an unreachable one after ``connect_timeout``.
Failures end in ``DownloadError`` whose text is one line: what, the URL, why, the path to put the file at
by hand and the offline alternative.

Environment: ADNERF_OFFLINE=1 never touches the network (the error says where to put the file);
ADNERF_CONNECT_TIMEOUT, ADNERF_READ_TIMEOUT (seconds) and ADNERF_DOWNLOAD_RETRIES change the defaults.
"""
from __future__ import annotations

import functools
import hashlib
import http.client
import os
import shutil
import socket
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from adnerf.errors import DownloadError
from adnerf.files import is_disk_full, no_space_message

__all__ = ["DownloadError", "fetch", "fetch_cached", "file_digest", "offline"]

CONNECT_TIMEOUT = 15.0
READ_TIMEOUT = 60.0
ATTEMPTS = 3
BLOCK = 1 << 20


def offline() -> bool:
    return os.environ.get("ADNERF_OFFLINE", "").strip().lower() not in ("", "0", "false", "no")


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ[name])
    except (KeyError, ValueError):
        return default


def _connection(base, connect_timeout: float, read_timeout: float):
    """An http.client connection class whose connect (and TLS handshake) uses connect_timeout and whose
    reads then use read_timeout: urllib alone has one timeout for both."""
    class Timed(base):
        def connect(self):
            self.timeout = connect_timeout
            super().connect()
            self.sock.settimeout(read_timeout)
    return Timed


def _opener(connect_timeout: float, read_timeout: float) -> urllib.request.OpenerDirector:
    http_cls = _connection(http.client.HTTPConnection, connect_timeout, read_timeout)
    https_cls = _connection(http.client.HTTPSConnection, connect_timeout, read_timeout)

    class HTTP(urllib.request.HTTPHandler):
        def http_open(self, req):
            return self.do_open(http_cls, req)

    class HTTPS(urllib.request.HTTPSHandler):
        def https_open(self, req):
            return self.do_open(functools.partial(https_cls, context=self._context), req)

    return urllib.request.build_opener(HTTP, HTTPS)   # proxies from the environment still apply


def _retryable(exc: BaseException) -> bool:
    """A 4xx answer (file missing, forbidden) will not change on retry; timeouts, resets and 5xx may."""
    if isinstance(exc, urllib.error.HTTPError):
        return exc.code >= 500 or exc.code in (408, 429)
    return not isinstance(exc, (DownloadError, ValueError, FileNotFoundError, PermissionError))


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        exc = exc.reason if isinstance(exc.reason, BaseException) else exc
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _one_attempt(url: str, tmp: Path, opener, digests: list, progress: str | None) -> None:
    with opener.open(url) as response, open(tmp, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        bar = None
        if progress:
            from tqdm import tqdm
            bar = tqdm(total=total, desc=progress, unit="B", unit_scale=True, leave=False, file=sys.stderr)
        try:
            for block in iter(lambda: response.read(BLOCK), b""):
                out.write(block)
                for d in digests:
                    d.update(block)
                if bar is not None:
                    bar.update(len(block))
        finally:
            if bar is not None:
                bar.close()
        if total is not None and out.tell() != total:
            raise ConnectionError(f"connection closed after {out.tell()} of {total} bytes")
        out.flush()
        os.fsync(out.fileno())


def _check_hashes(found: dict[str, str], expected: dict[str, str | None]) -> str | None:
    for name, want in expected.items():
        if want and not found[name].startswith(want.lower()):
            return f"{name.upper()} {found[name][:len(want)]} instead of {want.lower()}"
    return None


def file_digest(path: str | os.PathLike, name: str = "sha256") -> str:
    digest = hashlib.new(name)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(url: str, target: str | os.PathLike, *, what: str = "the file", sha256: str | None = None,
          sha1: str | None = None, offline_hint: str = "", put_hint: str = "", hand_path=None,
          connect_timeout: float | None = None, read_timeout: float | None = None, attempts: int | None = None,
          backoff: float = 1.0, progress: bool = True) -> Path:
    """Download ``url`` (http, https or file) to ``target``; returns target.

    sha256 / sha1: the full hex digest or a leading prefix of it (checked; None = unknown, not checked).
    offline_hint: the offline alternative named in the error (e.g. "--parsing_backend mediapipe").
    put_hint: a further way to provide the file (e.g. "or pass --bisenet_weights FILE").
    hand_path: where the user should put the file by hand, when not ``target`` (e.g. the unzipped graph).
    Nothing is left under ``target`` unless the whole, checked file arrived (temporary file + rename).
    """
    target = Path(target).expanduser()
    connect_timeout = connect_timeout if connect_timeout is not None else _env_float("ADNERF_CONNECT_TIMEOUT",
                                                                                    CONNECT_TIMEOUT)
    read_timeout = read_timeout if read_timeout is not None else _env_float("ADNERF_READ_TIMEOUT", READ_TIMEOUT)
    attempts = max(1, int(attempts if attempts is not None else _env_float("ADNERF_DOWNLOAD_RETRIES", ATTEMPTS)))
    alternatives = "; ".join(s for s in (put_hint, f"or work offline: {offline_hint}" if offline_hint else "") if s)
    tail = f"download it by hand to {hand_path or target}" + (f"; {alternatives}" if alternatives else "")

    def fail(why: str) -> DownloadError:
        return DownloadError(f"cannot download {what} from {url} ({why}): {tail}")

    if offline():
        raise fail("ADNERF_OFFLINE is set, no downloads")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise fail(f"cannot create {target.parent}: {exc.strerror}") from exc
    tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
    opener = _opener(connect_timeout, read_timeout)
    expected = {"sha256": sha256, "sha1": sha1}
    last: BaseException | None = None
    try:
        for attempt in range(1, attempts + 1):
            digests = {name: hashlib.new(name) for name in expected}
            try:
                if url.startswith("file://"):
                    src = urllib.request.url2pathname(url[len("file://"):])
                    shutil.copyfile(src, tmp)
                    digests = {name: hashlib.new(name, Path(tmp).read_bytes()) for name in expected}
                else:
                    _one_attempt(url, tmp, opener, list(digests.values()), f"{what}" if progress else None)
            except (OSError, http.client.HTTPException) as exc:
                if is_disk_full(exc):
                    raise DownloadError(no_space_message(target.parent,
                                                         f"device full while writing {exc.filename or tmp}: "
                                                         "free some space and retry")) from exc
                last = exc
                if not _retryable(exc) or attempt == attempts:
                    break
                time.sleep(backoff * attempt)
                continue
            mismatch = _check_hashes({n: d.hexdigest() for n, d in digests.items()}, expected)
            if mismatch:
                raise fail(f"the download has {mismatch}: corrupt or changed; nothing was saved")
            os.replace(tmp, target)
            return target
        n = f"{attempt} attempts" if attempt > 1 else "1 attempt"
        raise fail(f"{_reason(last)}, {n}") from last
    finally:
        tmp.unlink(missing_ok=True)


def fetch_cached(url: str, target: str | os.PathLike, **kwargs) -> Path:
    """``target`` when it exists (and matches a given sha256 / sha1), else ``fetch`` it."""
    target = Path(target).expanduser()
    if target.is_file():
        ok = all(not kwargs.get(n) or file_digest(target, n).startswith(kwargs[n].lower()) for n in ("sha256", "sha1"))
        if ok:
            return target
    return fetch(url, target, **kwargs)
