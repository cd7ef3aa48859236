"""Torso-NeRF command line (run_nerf.py; installed as adnerf-train-torso and adnerf-drive)."""
