"""The web page's work: checking an uploaded speech file, and one worker thread that drives the queued jobs.

A job is one upload: its speech, converted to a 16 kHz mono .wav after the checks (an audio stream ffmpeg can
read, not empty, not longer than the limit), and the avatar to drive. Jobs wait in a queue and one worker
thread runs them in order, each as its own ``adnerf-drive --avatar`` process (``python -m avatar.drive``):
a failure or a crash of the rendering ends that job with its one-line error and leaves the server running.
Progress is read from the process's output: the stage, and the frames done / total of the driving's bar.
"""
from __future__ import annotations

import itertools
import os
import queue
import re
import subprocess
import sys
import threading
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path

from adnerf.errors import AdnerfError

AUDIO_RATE = 16000
MAX_SECONDS = 60.0                 # longest speech a page request may drive
MAX_UPLOAD_BYTES = 30 * 1024 ** 2  # a minute of 16-bit 48 kHz stereo wav is 11 MB
FPS = 25
_BAR = re.compile(r"driving:\s*\d+%\|[^|\r\n]*\|\s*(\d+)/(\d+)")


class UploadError(AdnerfError):
    """An upload the page refuses (str(): the one line shown on the page)."""


def frames_for(seconds: float) -> int:
    """Frames driving renders for ``seconds`` of speech (one per 25 fps feature window, the features' count)."""
    return max(1, -(-(round(50 * seconds) - 1) // 2))


def checked_speech(data: bytes, name: str, folder: Path, max_seconds: float = MAX_SECONDS) -> tuple[Path, float]:
    """The uploaded bytes -> (16 kHz mono speech.wav in ``folder``, seconds), or UploadError saying why not."""
    from adnerf.media import read_audio
    if not data:
        raise UploadError(f"{name or 'the upload'} is empty: choose a speech file (wav, mp3, m4a) or record one")
    if len(data) > MAX_UPLOAD_BYTES:
        raise UploadError(f"{name} is {len(data) / 1e6:.0f} MB, over the {MAX_UPLOAD_BYTES / 1e6:.0f} MB limit")
    folder.mkdir(parents=True, exist_ok=True)
    suffix = re.sub(r"[^A-Za-z0-9.]", "", Path(name or "upload").suffix)[:8] or ".bin"
    raw = folder / f"upload{suffix}"
    raw.write_bytes(data)
    try:
        samples = read_audio(raw)
    except AdnerfError:
        raise UploadError(f"{name} is not an audio file that can be read (use wav, mp3 or m4a)") from None
    seconds = len(samples) / AUDIO_RATE
    if seconds < 0.1 or not samples.any():
        raise UploadError(f"{name} holds no sound ({seconds:.2f} s{'' if samples.any() else ', silent'})")
    if seconds > max_seconds:
        raise UploadError(f"{name} is {seconds:.1f} s long; the page drives at most {max_seconds:.0f} s")
    wav = folder / "speech.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(AUDIO_RATE)
        w.writeframes(samples.tobytes())
    return wav, seconds


@dataclass
class Job:
    """One request: what to drive, and where it stands (state: queued, running, done, failed)."""
    id: str
    avatar: Path
    speech: Path
    output: Path
    total: int
    state: str = "queued"
    stage: str = "waiting for the renders before it"
    done: int = 0
    error: str | None = None
    log: list[str] = field(default_factory=list)
    started: float | None = None

    def status(self, position: int) -> dict:
        return {"id": self.id, "state": self.state, "stage": self.stage, "done": self.done, "total": self.total,
                "position": position, "error": self.error,
                "video": f"/api/jobs/{self.id}/video" if self.state == "done" else None}


class Worker:
    """A queue of jobs and the one thread that runs them, each as an ``adnerf-drive --avatar`` process."""

    def __init__(self, root: Path, extra: list[str] | None = None):
        self.root, self.extra = root, list(extra or [])
        self.jobs: dict[str, Job] = {}
        self.pending: queue.Queue[Job] = queue.Queue()
        self.lock = threading.Lock()
        self._ids = itertools.count(1)
        self.proc: subprocess.Popen | None = None
        self.thread = threading.Thread(target=self._run, name="adnerf-drive-worker", daemon=True)
        self.thread.start()

    def folder(self) -> tuple[str, Path]:
        """A fresh job id and its folder."""
        job_id = f"{next(self._ids):04d}"
        return job_id, self.root / job_id

    def submit(self, job_id: str, avatar: Path, speech: Path, seconds: float) -> Job:
        job = Job(job_id, avatar, speech, speech.parent / "result.mp4", frames_for(seconds))
        with self.lock:
            self.jobs[job.id] = job
        self.pending.put(job)
        return job

    def position(self, job: Job) -> int:
        """Jobs ahead of ``job`` (0 when it runs or is next)."""
        with self.lock:
            return sum(1 for j in self.jobs.values() if j.state in ("queued", "running") and j.id < job.id)

    def _run(self) -> None:
        while True:
            job = self.pending.get()
            try:
                self.drive(job)
            except Exception as exc:  # the worker outlives any job
                job.state, job.error = "failed", f"{exc.__class__.__name__}: {exc}"

    def drive(self, job: Job) -> None:
        """Run the job's driving process, following its output for progress."""
        job.state, job.stage, job.started = "running", "loading the avatar", time.time()
        cmd = [sys.executable, "-m", "avatar.drive", "--avatar", str(job.avatar), "--audio", str(job.speech),
               "-o", str(job.output), *self.extra]
        self.proc = proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, bufsize=0,
                                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        pending = ""
        for chunk in iter(lambda: proc.stdout.read(512), b""):
            pending += chunk.decode(errors="replace")
            *lines, pending = re.split(r"[\r\n]", pending)
            for line in lines:
                self._follow(job, line)
        self._follow(job, pending)
        code = proc.wait()
        if code == 0 and job.output.is_file():
            job.state, job.stage, job.done = "done", "done", job.total
        else:
            errors = [line for line in job.log if line.startswith("error:")]
            job.state = "failed"
            job.error = (errors or job.log or [f"the driving process ended with status {code}"])[-1]

    def close(self) -> None:
        """Stop the render that runs now (the server is stopping)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    @staticmethod
    def _follow(job: Job, line: str) -> None:
        line = line.strip()
        if not line:
            return
        bar = _BAR.search(line)
        if bar:
            job.done, job.total, job.stage = int(bar.group(1)), int(bar.group(2)), "rendering frames"
            return
        job.log = (job.log + [line])[-40:]
        if "with sound" in line:
            job.stage = "adding the sound"
        elif job.done == 0 and "region" not in line:
            job.stage = "computing the speech features"
