"""Video: temporally coherent style transfer of video files or frame folders with any method.

    atelier.stylize_video("clip.mp4", "out.mp4", method="johnson", model="starry_night")

Modules: :mod:`.flow` (OpenCV DIS optical flow, warping, the forward-backward consistency check and
motion boundaries; torch + numpy only, so ``atelier.metrics`` can use it without importing any method),
:mod:`.io` (PyAV reading and writing, frame folders), :mod:`.pipeline` (the per-frame loop: temporal
blending or Ruder et al.'s temporal loss, resume). This package file imports nothing, so importing
``atelier.video.flow`` does not load the pipeline (and the methods it runs).
"""
