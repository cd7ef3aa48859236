"""Portrait mode: rendered heads blended into the real frames, and pasted back into full-resolution video.

A stage (it imports only the shared layer, adnerf): portrait/paste.py holds the pixel work as pure functions,
portrait/cli.py the ``adnerf-portrait`` command. docs/portrait.md describes both.
"""
