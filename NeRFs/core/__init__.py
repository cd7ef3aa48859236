"""Shared NeRF core used by both HeadNeRF and TorsoNeRF.

Modules, in the torch-ngp / RAD-NeRF split:

- ``encoding``    positional encoding
- ``networks``    AudioNet, AudioAttNet, FaceNeRF (parameter names of the original)
- ``rays``        camera rays and the face-rect weighted ray sampler
- ``sampling``    stratified and hierarchical (inverse-CDF) depth sampling
- ``field``       render settings; the radiance field (encodings + FaceNeRF) the renderers query
- ``compositing`` density -> opacity -> weights, the background as the last sample
- ``rendering``   the training renderer (coarse + fine, autograd) and the chunked entry point
- ``inference``   the display renderer: same pixels within 1/255, much less work (docs/nerf.md)
- ``allocator``   glibc keeps freed memory (fewer page faults on CPU)
- ``dataset``     loading dataset/<id>/ (transforms json, images, audio features, bc.jpg)
- ``checkpoint``  atomic checkpoint I/O in the original key layout
- ``audio``       per-frame and smoothed (AudioAttNet) audio codes
- ``config``      the command line / config-file options
- ``trainer``     the training loop, validation renders and render-only
"""
