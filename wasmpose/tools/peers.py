"""How the peer libraries compute what wasmpose computes, as the shipped commands call them.

``python -m wasmpose bench`` and ``demo`` time these calls beside wasmpose; the asv suite
(``benchmarks/``) and the tests (``tests/``) use the same ones, so that every comparison makes
the same peer call. Peers that only the tests or only the asv suite use live there, not here:
the mmpose transcriptions in ``benchmarks/peers.py``, the tests' own oracles in ``tests/``.
Nothing is imported with this module: each peer is passed in, or imported by :func:`peer`.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import io
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["peer", "opencv_blob", "numpy_to_tensor", "torch_layer_norm", "torch_peaks",
           "coco_oks"]


@functools.cache
def peer(name: str) -> Any | None:
    """The module ``name`` (``"cv2"``, ``"torch"``, ``"scipy.spatial.distance"``, ...) if it
    imports, else ``None``; tried once per process, on the first call."""
    try:
        return importlib.import_module(name)
    except Exception:  # noqa: BLE001 - missing or broken (a bad wheel): the peer is skipped
        return None


def opencv_blob(cv2, img: np.ndarray, mean, std, layout: str = "nchw"
                ) -> Callable[[], np.ndarray]:
    """A call of ``cv2.dnn`` that computes ``to_tensor(img, mean, std, layout=layout)`` (scale
    1/255).

    OpenCV's blob is ``(x - mean') * scalefactor`` per channel, so ``mean' = 255 * mean`` and
    ``scalefactor = 1 / (255 * std)``. ``img`` is (H, W, 3) or (N, H, W, 3) uint8.
    """
    mean = np.asarray(mean, np.float64)
    std = np.asarray(std, np.float64)
    h, w = img.shape[-3:-1]
    params = cv2.dnn.Image2BlobParams(scalefactor=tuple(1 / (255 * std)), size=(w, h),
                                      mean=tuple(255 * mean), swapRB=False, ddepth=cv2.CV_32F,
                                      datalayout={"nchw": cv2.DNN_LAYOUT_NCHW,
                                                  "nhwc": cv2.DNN_LAYOUT_NHWC}[layout])
    if img.ndim == 4:
        images = list(img)
        return lambda: cv2.dnn.blobFromImagesWithParams(images, params)
    return lambda: cv2.dnn.blobFromImageWithParams(img, params)


def numpy_to_tensor(img: np.ndarray, mean, std) -> Callable[[], np.ndarray]:
    """The plain NumPy formula of ``to_tensor(img, mean, std)`` (NCHW): ``(x / 255 - mean) /
    std`` in float64, cast to float32 and made C-contiguous, as the other implementations are.
    ``img`` is (H, W, 3) or (N, H, W, 3) uint8."""
    batch = img if img.ndim == 4 else img[None]
    mean = np.asarray(mean, np.float64)
    std = np.asarray(std, np.float64)
    return lambda: np.ascontiguousarray(
        ((batch / 255 - mean) / std).astype(np.float32).transpose(0, 3, 1, 2))


def torch_layer_norm(torch, x: np.ndarray) -> Callable[[], Any]:
    """``torch.nn.functional.layer_norm`` over the whole of ``x``: ``normalize(x)``'s peer."""
    t = torch.from_numpy(x)
    shape = t.shape
    layer_norm = torch.nn.functional.layer_norm
    return lambda: layer_norm(t, shape)


def torch_peaks(torch, h: np.ndarray, threshold: float, top_k: int, window: int = 3):
    """The max-pool peak path of CenterNet and mmpose in PyTorch, for (K, H, W) heatmaps:
    ``max_pool2d`` + compare + ``topk`` per channel; returns (values, flat indices) above
    ``threshold``, at most ``top_k`` per channel."""
    f = torch.nn.functional
    t = torch.from_numpy(h)[None]
    k = min(top_k, h.shape[-1] * h.shape[-2])
    ninf = torch.tensor(float("-inf"), dtype=t.dtype)

    def call():
        keep = (f.max_pool2d(t, window, stride=1, padding=window // 2) == t) & (t > threshold)
        v, i = torch.where(keep, t, ninf).flatten(2).topk(k, dim=-1)
        return v[v > threshold], i[v > threshold]
    return call


def coco_oks(dt: np.ndarray, gt: np.ndarray, areas: np.ndarray, bboxes: np.ndarray,
             sigmas=None):
    """A call of pycocotools' ``COCOeval.computeOks`` that gives ``oks(dt, gt, areas,
    gt_bboxes=bboxes, sigmas=sigmas)`` as a (D, G) array: COCO objects built in memory, one
    image, ``maxDets`` raised to the number of detections so nothing is cut at 20. Detections
    keep their order (distinct descending scores); (D, K, 2) detections get a score column of
    ones. Returns ``None`` if pycocotools is not installed."""
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError:
        return None
    n_gt, n_dt, k = len(gt), len(dt), gt.shape[1]
    anns = [dict(id=g + 1, image_id=1, category_id=1, iscrowd=0, area=float(areas[g]),
                 bbox=[float(v) for v in bboxes[g]], keypoints=gt[g].ravel().tolist(),
                 num_keypoints=int((gt[g, :, 2] > 0).sum())) for g in range(n_gt)]
    res = [dict(image_id=1, category_id=1, score=1.0 - d / (n_dt + 1.0),
                keypoints=np.column_stack([dt[d, :, :2], dt[d, :, 2] if dt.shape[2] > 2
                                           else np.ones(k)]).ravel().tolist())
           for d in range(n_dt)]
    with contextlib.redirect_stdout(io.StringIO()):
        gt_coco = COCO()
        gt_coco.dataset = dict(images=[dict(id=1, width=1000, height=1000)],
                               categories=[dict(id=1, name="person")], annotations=anns)
        gt_coco.createIndex()
        ev = COCOeval(gt_coco, gt_coco.loadRes(res), "keypoints")
        ev.params.maxDets = [max(n_dt, 1)]
        if sigmas is not None:
            ev.params.kpt_oks_sigmas = np.asarray(sigmas, np.float64)
        ev._prepare()
    return lambda: np.asarray(ev.computeOks(1, 1)).reshape(n_dt, n_gt)
