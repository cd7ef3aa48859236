"""The shared layer: what every stage of the project does the same way. It imports nothing of the project,
so any module can import it without cycles, and its modules import torch only inside the functions that need it.

- ``errors``     AdnerfError (the one user-facing, one-line error), DownloadError, report() that prints them
- ``devices``    resolve_device: --device auto | cpu | cuda | cuda:N
- ``files``      atomic writes (atomic_path, save_text, save_json), partial-file cleanup, the full-disk line
- ``media``      images (read, write, to_uint8), H.264 videos, wav / any-file audio reading, ffmpeg probing
- ``constants``  FPS, AUDIO_RATE, DEFAULT_TESTSKIP
- ``configfile`` reading the key = value config files of the NeRFs without their parser
- ``download``   the one download helper (timeouts, retries, checksums)
- ``sequence_record`` the record (frames.json) of a rendered sequence
"""
