"""Head-NeRF command line (run_nerf.py; installed as adnerf-train-head)."""
