"""One validation for every function that takes PCM samples from a caller."""

from __future__ import annotations

import numpy as np

__all__ = ["as_frames"]


def as_frames(pcm: np.ndarray, *, what: str = "pcm") -> np.ndarray:
    """C-contiguous float32 ``(frames, channels)``; a clear ValueError for anything else.

    Mono 1-D input becomes one channel. Integer samples are refused rather than
    scaled, since their full-scale value is ambiguous; NaN and infinities are
    refused because every analysis downstream would silently turn them into noise.
    """
    array = np.asarray(pcm)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[1] < 1:
        raise ValueError(f"{what} must have shape (frames, channels), got {array.shape}")
    if array.shape[0] == 0:
        raise ValueError(f"{what} has no frames")
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"{what} must be float samples in [-1, 1], got dtype {array.dtype}")
    array = np.ascontiguousarray(array, dtype="<f4")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{what} contains NaN or infinite samples")
    return array
