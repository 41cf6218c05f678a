"""How the peers compute what wasmpose computes: shared by the demo, the bench command, the asv
suite and the tests, so every comparison uses the same peer call."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def opencv_blob(cv2, img: np.ndarray, mean, std) -> Callable[[], np.ndarray]:
    """A call of ``cv2.dnn`` that computes ``to_tensor(img, mean, std)`` (NCHW, scale 1/255).

    OpenCV's blob is ``(x - mean') * scalefactor`` per channel, so ``mean' = 255 * mean`` and
    ``scalefactor = 1 / (255 * std)``. ``img`` is (H, W, 3) or (N, H, W, 3) uint8.
    """
    mean = np.asarray(mean, np.float64)
    std = np.asarray(std, np.float64)
    h, w = img.shape[-3:-1]
    params = cv2.dnn.Image2BlobParams(scalefactor=tuple(1 / (255 * std)), size=(w, h),
                                      mean=tuple(255 * mean), swapRB=False, ddepth=cv2.CV_32F)
    if img.ndim == 4:
        images = list(img)
        return lambda: cv2.dnn.blobFromImagesWithParams(images, params)
    return lambda: cv2.dnn.blobFromImageWithParams(img, params)
