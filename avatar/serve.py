"""``adnerf-serve``: a local web page to drive one or more ``.adnerf`` avatars with speech.

    adnerf-serve --avatar <id>.adnerf [--avatar other.adnerf ...] [--port 7860] [--host 127.0.0.1]

The page (page.html) lists the avatars, takes a speech file (wav, mp3, m4a) or a recording from the
microphone, shows the progress of the render, then plays the video with sound and offers it for download.
It listens on 127.0.0.1 only unless ``--host`` says otherwise. Requests queue for one worker (jobs.py).

HTTP interface (FastAPI):
    GET  /                      the page
    GET  /api/avatars           [{index, name, description}]
    POST /api/jobs              form fields avatar (index), audio (file) -> {id, ...status} or 400 {error}
    GET  /api/jobs/{id}         {state: queued|running|done|failed, stage, done, total, position, error, video}
    GET  /api/jobs/{id}/video   the mp4
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse

from adnerf.errors import AdnerfError, report

from .jobs import MAX_SECONDS, MAX_UPLOAD_BYTES, UploadError, Worker, checked_speech
from .package import check_nerf_options, open_avatar

PAGE = Path(__file__).with_name("page.html")


def create_app(avatars: list[Path], worker: Worker, max_seconds: float = MAX_SECONDS):
    """The FastAPI app serving ``avatars`` (already checked) through ``worker``."""
    opened = [open_avatar(a) for a in avatars]
    app = FastAPI(title="AD-NeRF avatars", docs_url=None, redoc_url=None, openapi_url=None)

    def refuse(message: str, code: int = 400) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=code)

    @app.exception_handler(Exception)
    async def any_error(request: Request, exc: Exception) -> JSONResponse:  # the page shows it; the server goes on
        return refuse(f"internal error: {exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''}", 500)

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return PAGE.read_text().replace("{{MAX_SECONDS}}", f"{max_seconds:.0f}")

    @app.get("/api/avatars")
    def list_avatars() -> list[dict]:
        return [{"index": i, "name": a.manifest.get("id") or a.path.stem, "file": a.path.name,
                 "description": a.describe()} for i, a in enumerate(opened)]

    @app.post("/api/jobs")
    async def create_job(avatar: int = Form(0), audio: UploadFile | None = File(None)):
        if not 0 <= avatar < len(opened):
            return refuse(f"no avatar {avatar}: choose one of the list")
        if audio is None:
            return refuse("choose a speech file (wav, mp3, m4a) or record one first")
        data = await audio.read(MAX_UPLOAD_BYTES + 1)
        job_id, folder = worker.folder()
        try:
            speech, seconds = checked_speech(data, audio.filename or "upload", folder, max_seconds)
        except UploadError as exc:
            shutil.rmtree(folder, ignore_errors=True)
            return refuse(str(exc))
        job = worker.submit(job_id, opened[avatar].path, speech, seconds)
        return job.status(worker.position(job))

    @app.get("/api/jobs/{job_id}")
    def job_status(job_id: str):
        job = worker.jobs.get(job_id)
        return job.status(worker.position(job)) if job else refuse(f"no job {job_id}", 404)

    @app.get("/api/jobs/{job_id}/video")
    def job_video(job_id: str):
        job = worker.jobs.get(job_id)
        if job is None or job.state != "done":
            return refuse(f"job {job_id} has no video (yet)", 404)
        name = f"{opened_name(opened, job.avatar)}_{job_id}.mp4"
        return FileResponse(job.output, media_type="video/mp4", filename=name)

    return app


def opened_name(opened, path: Path) -> str:
    return next((a.manifest.get("id") or a.path.stem for a in opened if a.path == path), "avatar")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="adnerf-serve", description=__doc__.split("\n\n")[0],
                                epilog="Other --options are NeRF options for every render (e.g. --device cpu).")
    p.add_argument("--avatar", action="append", required=True, type=Path, help="an .adnerf file (repeatable)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: this machine only)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--max_seconds", type=float, default=MAX_SECONDS, help="longest speech accepted")
    return p


def main(argv=None) -> int:
    args, extra = build_parser().parse_known_args(argv)
    try:
        extra = check_nerf_options(extra, "adnerf-serve")
        if not 0 < args.max_seconds <= 3600:  # also refuses nan
            raise AdnerfError(f"--max_seconds {args.max_seconds}: give a length in seconds, at most 3600")
        avatars = [open_avatar(a).path.resolve() for a in args.avatar]
    except AdnerfError as exc:
        return report(exc, 2)
    import uvicorn
    root = Path(tempfile.mkdtemp(prefix="adnerf-serve-"))
    worker = Worker(root, extra)
    try:
        app = create_app(avatars, worker, args.max_seconds)
        print(f"serving {len(avatars)} avatar(s) on http://{args.host}:{args.port}/ (Ctrl+C to stop)", flush=True)
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    finally:
        worker.close()
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
