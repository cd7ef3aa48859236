"""Shared NeRF core used by both HeadNeRF and TorsoNeRF.

Modules, in the torch-ngp / RAD-NeRF split:

- ``encoding``    positional encoding
- ``networks``    AudioNet, AudioAttNet, FaceNeRF (parameter names of the original)
- ``rays``        camera rays and the face-rect weighted ray sampler
- ``sampling``    stratified and hierarchical (inverse-CDF) depth sampling
- ``field``       render settings; the radiance field (encodings + FaceNeRF) the renderers query
- ``compositing`` density -> opacity -> weights, the background as the last sample
- ``conditioning`` a frame's condition (audio code; + encoded head pose for the torso), head/torso composite
- ``rendering``   the training renderer (coarse + fine, autograd) and the chunked entry point
- ``inference``   the display renderer: same pixels within 1/255, much less work (docs/nerf.md)
- ``regions``     pixels a trained NeRF can cover (from the face parsing), for ``--skip_bg_pixels``
- ``allocator``   glibc keeps freed memory (fewer page faults on CPU)
- ``dataset``     loading dataset/<id>/ (transforms json, images, audio features, bc.jpg)
- ``checkpoint``  atomic checkpoint I/O in the original key layout, the wrong-backend error, the head's file
- ``models``      the model layer: ``Backend`` and its Head / Torso hooks; the MLP backend's models
- ``backends``    the one table from ``--backend`` name to its Backend (the only module naming NeRFs/grid)
- ``audio``       per-frame and smoothed (AudioAttNet) audio codes
- ``config``      the command line / config-file options
- ``validate``    option values checked before any work starts (one line per failure)
- ``preflight``   checks before long work (output folder writable, free disk space) and the experiment lock
- ``utils``       the NeRFs' names for the shared layer's helpers (adnerf: UserError, devices, images, video), PSNR
- ``trainer``     the training loop and validation renders, shared by head and torso
- ``head``        Head-NeRF: the trainer of the audio-conditioned head (any backend's model)
- ``torso``       Torso-NeRF: the torso model on the frozen head, composited under it (any backend)
- ``serving``     a trained model for rendering only (TalkingHead, HeadRenderer): checkpoints + transforms
                  + bc.jpg, no optimiser, no training image; any backend
- ``sequence``    writing a rendered sequence: PNG frames, frames.json (adnerf.sequence_record), video.mp4
- ``render_only`` ``--render_only``: the validation frames of a saved model, through ``serving``
- ``driving``     rendering a trained head + torso with new audio features (TorsoNeRFTest mode)
- ``cli``         what both run_nerf.py scripts (adnerf-train-head / -train-torso / -drive) do; the backend
                  and render settings made from the options, once
"""
