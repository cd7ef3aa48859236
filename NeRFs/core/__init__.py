"""Shared NeRF core used by both HeadNeRF and TorsoNeRF.

Modules, in the torch-ngp / RAD-NeRF split:

- ``encoding``    positional encoding
- ``networks``    AudioNet, AudioAttNet, FaceNeRF (parameter names of the original)
- ``rays``        camera rays and the face-rect weighted ray sampler
- ``sampling``    stratified and hierarchical (inverse-CDF) depth sampling
- ``rendering``   volume rendering with the background as the last sample
- ``dataset``     loading dataset/<id>/ (transforms json, images, audio features, bc.jpg)
- ``checkpoint``  atomic checkpoint I/O in the original key layout
- ``audio``       per-frame and smoothed (AudioAttNet) audio codes
- ``config``      the command line / config-file options
- ``trainer``     the training loop, validation renders and render-only
"""
