"""Muxing a rendered video with its driving audio (ffmpeg from imageio-ffmpeg)."""
