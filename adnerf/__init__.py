"""The shared layer: small helpers every part of the project may use (downloads, and later errors, devices,
atomic writes). It imports nothing of the project, so any module can import it without cycles or the
heavy imports (torch, TensorFlow) of the parts that use it.
"""
