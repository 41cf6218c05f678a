"""How the peers compute what wasmpose computes: shared by the demo, the bench command, the asv
suite and the tests, so every comparison uses the same peer call."""

from __future__ import annotations

import contextlib
import functools
import importlib
import io
import sys
from collections.abc import Callable
from typing import Any

import numpy as np


@functools.cache
def peer(name: str) -> Any | None:
    """The module ``name`` (``"cv2"``, ``"torch"``, ``"scipy.spatial.distance"``, ...) if it
    imports, else ``None``; tried once per process, on the first call."""
    try:
        return importlib.import_module(name)
    except Exception:  # noqa: BLE001 - missing or broken (a bad wheel): the peer is skipped
        return None


def peer_versions() -> dict:
    """Versions and thread counts of the OpenCV and PyTorch already imported in this process."""
    v = {}
    cv2 = sys.modules.get("cv2")
    if cv2 is not None:
        v["opencv"] = cv2.__version__
        v["opencv_threads"] = cv2.getNumThreads()
    torch = sys.modules.get("torch")
    if torch is not None:
        v["torch"] = torch.__version__
        v["torch_threads"] = torch.get_num_threads()
    return v


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


def mmpose_oks_iou(g: np.ndarray, d: np.ndarray, a_g, a_d: np.ndarray,
                   sigmas: np.ndarray) -> np.ndarray:
    """mmpose.evaluation.functional.nms.oks_iou (no vis_thr), restated plainly: the OKS of pose
    ``g`` (K, >=2) with each pose of ``d`` (N, K, >=2), a Python loop over ``d``, in float64
    (mmpose then stores it in a float32 array). The test oracle of the mean-area OKS and the
    asv peer of ``oks_nms``."""
    var = (sigmas * 2) ** 2
    ious = np.zeros(len(d))
    for n in range(len(d)):
        dx = d[n, :, 0] - g[:, 0]
        dy = d[n, :, 1] - g[:, 1]
        e = (dx**2 + dy**2) / var / ((a_g + a_d[n]) / 2 + np.spacing(1)) / 2
        ious[n] = np.sum(np.exp(-e)) / len(e)
    return ious


def mmpose_oks_nms(poses: np.ndarray, scores, areas: np.ndarray, thr: float,
                   sigmas: np.ndarray) -> np.ndarray:
    """mmpose.evaluation.functional.nms.oks_nms (with its oks_iou), restated plainly: the kept
    indices (int64), best score first."""
    order = np.asarray(scores).argsort()[::-1]
    keep = []
    while len(order) > 0:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        ious = mmpose_oks_iou(poses[i], poses[rest], areas[i], areas[rest],
                              sigmas).astype(np.float32)
        order = order[np.where(ious <= thr)[0] + 1]
    return np.array(keep, dtype=np.int64)



RTMLIB_MEAN = (123.675, 116.28, 103.53)  # rtmlib RTMPose's defaults (pixel units)
RTMLIB_STD = (58.395, 57.12, 57.375)


def person_boxes(n: int, frame_hw: tuple[int, int], seed: int = 20261204) -> np.ndarray:
    """``n`` person-like xyxy boxes (40-300 px wide, 100-600 px tall) inside a frame."""
    rng = np.random.default_rng([seed, n, *frame_hw])
    h, w = frame_hw
    bw = rng.uniform(40, 300, n)
    bh = rng.uniform(100, 600, n)
    x0 = rng.uniform(0, w - bw)
    y0 = rng.uniform(0, h - bh)
    return np.stack([x0, y0, x0 + bw, y0 + bh], axis=1)


def rtmlib_preprocess(pre, frame: np.ndarray, boxes: np.ndarray,
                      input_size: tuple[int, int]) -> Callable[[], np.ndarray]:
    """rtmlib's per-person preprocessing for a batch: for each box, ``bbox_xyxy2cs`` (padding
    1.25), ``top_down_affine`` (``cv2.warpAffine``), float64 ``(img - mean) / std`` and the
    float32 NCHW transpose, as ``rtmlib.RTMPose.preprocess`` + ``inference`` do; ``pre`` is
    ``rtmlib.tools.pose_estimation.pre_processings``."""
    mean = np.array(RTMLIB_MEAN)
    std = np.array(RTMLIB_STD)

    def run():
        batch = []
        for box in boxes:
            center, scale = pre.bbox_xyxy2cs(np.asarray(box), padding=1.25)
            img, _ = pre.top_down_affine(input_size, scale, center, frame)
            img = (img - mean) / std
            batch.append(np.ascontiguousarray(img.transpose(2, 0, 1), dtype=np.float32))
        return np.stack(batch)

    return run


def rtmlib_matrices(pre, boxes: np.ndarray, input_size: tuple[int, int]) -> np.ndarray:
    """The (N, 2, 3) crop matrices ``top_down_affine`` uses for ``boxes`` (rtmlib's
    ``bbox_xyxy2cs``, aspect-ratio fix and ``get_warp_matrix`` with no rotation)."""
    w, h = input_size
    mats = []
    for box in boxes:
        center, scale = pre.bbox_xyxy2cs(np.asarray(box), padding=1.25)
        b_w, b_h = scale
        scale = (np.array([b_w, b_w * h / w]) if b_w > b_h * w / h
                 else np.array([b_h * w / h, b_h]))
        mats.append(pre.get_warp_matrix(center, scale, 0, output_size=(w, h)))
    return np.array(mats, np.float64).reshape(-1, 2, 3)
