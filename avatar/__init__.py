"""A trained person in one file (``.adnerf``), driven anywhere, and a local web page to drive it.

    adnerf-export --config dataset/<id>/TorsoNeRFTest_config.txt -o <id>.adnerf     (export.py)
    adnerf-drive  --avatar <id>.adnerf --audio speech.wav -o out.mp4                 (drive.py)
    adnerf-serve  --avatar <id>.adnerf [--avatar other.adnerf ...] [--port 7860]     (serve.py)

The file format (a zip with a manifest of checksums) and its safe unpacking are in ``package.py``. This is a
command-line layer: it drives the NeRFs only through their command line (``NeRFs.TorsoNeRF.run_nerf``) and
unpacks an avatar into a temporary folder laid out as a minimal dataset and logs for it.
"""
