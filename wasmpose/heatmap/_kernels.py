"""Numba kernels of :mod:`wasmpose.heatmap`: a serial and a parallel variant of each.

Kernels take C-contiguous ``(C, H, W)`` stacks of maps (C = N * K, already validated by
``wasmpose.heatmap``) and have the same signatures as their NumPy references in
``_reference.py``. All helpers live in this module because Numba's cache does not notice edits
to other files.

find_peaks keeps, per block of rows, the pixels above the threshold that no row neighbour
exceeds (one vectorised pass). When they are few, the usual pose heatmap, each one's window is
checked directly; when they are many, a separable max filter runs in flat vectorised passes (a
row pass, then a column pass and the comparison). Either way only the 8-pixel words of the flag
array that hold a candidate are scanned pixel by pixel. Peaks land in raster order; a stable
per-channel sort by descending score then gives the contract's order (score descending, ties by
y then x).
"""

import numpy as np
from numba import njit, prange

_SERIAL = dict(cache=True, nogil=True, boundscheck=False, error_model="numpy")
_PARALLEL = dict(_SERIAL, parallel=True)

# Rows per parallel block of find_peaks: about 16K pixels, at least 8 rows.
PEAK_BLOCK_PIXELS = 1 << 14
# Row blocks per run of the parallel find_peaks (one scratch allocation per run).
RUN_BLOCKS = 4
# Candidates (pixels above the threshold) up to one in SPARSE_RATIO are checked one by one.
SPARSE_RATIO = 16
# Peaks per channel up to which an insertion sort beats NumPy's merge sort.
_INSERTION_MAX = 64

REFINE_NONE, REFINE_SHIFT, REFINE_QUADRATIC, REFINE_DARK = 0, 1, 2, 3
ALL_PEAKS = -1  # top_k of find_peaks when every peak is kept


# --- find_peaks -----------------------------------------------------------------------------
@njit(**_SERIAL)
def _peaks_rows(hm, w, y0, y1, thr, r, colx, lpen, rpen, rmax, cmax, flags, idx_out, score_out,
                base):
    """Peaks of rows ``[y0, y1)`` of the flat map ``hm`` (H * W), raster order, from ``base``.

    Flat loops over the rows ``[y0 - r, y1 + r)`` (clipped): ``colx[i]`` is ``i % w`` so the
    row pass can mask neighbours across a row end without a modulo in the loop. ``v > m`` is
    false for NaN, so NaN never wins a maximum. ``idx_out`` gets ``y * W + x``, ``score_out``
    the value; returns how many peaks were written.
    """
    hh = hm.size // w
    start = y0 * w
    m = (y1 - y0) * w
    out = hm[start:start + m]
    fl = flags[:m]
    if r == 0:  # window 1: every pixel above the threshold
        cnt = 0
        for j in range(m):
            f = np.uint8(out[j] > thr)
            fl[j] = f
            cnt += f
        return _collect(hm, w, y0, m, 0, False, flags, idx_out, score_out, base) if cnt else 0
    # Candidates: pixels above the threshold that no horizontal neighbour exceeds (one
    # vectorised pass; NaN neighbours never exceed). None: no peaks. Few (the usual heatmap:
    # blobs over a low background): check each one's window directly. Many: the max filter.
    # lpen/rpen are -inf where the left/right neighbour lies in another row, else 0: adding
    # them masks row ends without a branch (a masked NaN stays NaN, which never exceeds).
    cnt = _horizontal_candidates(out, fl, lpen, rpen, thr) if m >= 3 else 0
    for e in range(1 if m == 1 else 2):  # the block's first and last pixel
        j = 0 if e == 0 else m - 1
        v = out[j]
        f = v > thr
        if f and j > 0 and out[j - 1] + lpen[j] > v:
            f = False
        if f and j + 1 < m and out[j + 1] + rpen[j] > v:
            f = False
        fl[j] = np.uint8(f)
        cnt += np.uint8(f)
    if cnt == 0:
        return 0
    if cnt * SPARSE_RATIO <= m:
        return _collect(hm, w, y0, m, r, True, flags, idx_out, score_out, base)
    ya = max(0, y0 - r)
    yb = min(hh, y1 + r)
    n = (yb - ya) * w
    src = hm[ya * w:yb * w]
    # Loops index sliced views with the loop variable only: offset arithmetic inside the
    # index kept LLVM from vectorising (docs/heatmap.md).
    # row pass: rmax[i] = max of the row window around region pixel i
    for i in range(n):
        v = src[i]
        rmax[i] = v if v == v else -np.inf
    for d in range(1, r + 1):
        lim = w - d
        a = src[d:]
        b = rmax[:n - d]
        c = colx[:n - d]
        for i in range(n - d):
            v = a[i]
            cur = b[i]
            b[i] = v if (v > cur) & (c[i] < lim) else cur
        a = src[:n - d]
        b = rmax[d:n]
        c = colx[d:n]
        for i in range(n - d):
            v = a[i]
            cur = b[i]
            b[i] = v if (v > cur) & (c[i] >= d) else cur
    # column pass over the output rows only
    c0 = (y0 - ya) * w
    cm = cmax[:m]
    cm[:] = rmax[c0:c0 + m]
    for d in range(1, r + 1):
        s = d * w
        up = max(0, min(m, n - c0 - s))  # rows below exist up to the region's end
        a = rmax[c0 + s:c0 + s + up]
        for j in range(up):
            v = a[j]
            cur = cm[j]
            cm[j] = v if v > cur else cur
        lo = max(0, s - c0)  # rows above exist from the region's start
        a = rmax[c0 + lo - s:c0 + m - s]
        b = cm[lo:]
        for j in range(m - lo):
            v = a[j]
            cur = b[j]
            b[j] = v if v > cur else cur
    # compare, count, then scan only the 8-pixel words that hold a peak
    cnt = 0
    for j in range(m):
        v = out[j]
        f = np.uint8(v == cm[j]) & np.uint8(v > thr)
        fl[j] = f
        cnt += f
    if cnt == 0:
        return 0
    return _collect(hm, w, y0, m, 0, False, flags, idx_out, score_out, base)


@njit(**_SERIAL)
def _horizontal_candidates(out, fl, lpen, rpen, thr):
    """``fl[j]`` for the interior ``1 <= j < m - 1``: above ``thr`` and no row neighbour
    greater; returns how many."""
    m = out.size
    lft = out[:m - 2]
    mid = out[1:m - 1]
    rgt = out[2:]
    fm = fl[1:m - 1]
    lp = lpen[1:m - 1]
    rp = rpen[1:m - 1]
    cnt = 0
    for j in range(m - 2):
        v = mid[j]
        f = (np.int32(v > thr) & np.int32(not (lft[j] + lp[j] > v))
             & np.int32(not (rgt[j] + rp[j] > v)))
        fm[j] = f
        cnt += f
    return cnt


@njit(**_SERIAL)
def _collect(hm, w, y0, m, r, check, flags, idx_out, score_out, base):
    """Write the flagged pixels ``flags[:m]`` of rows ``y0...`` in raster order, skipping the
    8-pixel words without a flag. With ``check``, a flagged pixel is written only if no pixel
    of its ``2r+1`` window is greater (NaN never is). Returns how many were written."""
    hh = hm.size // w
    nw = (m + 7) // 8
    for j in range(m, nw * 8):
        flags[j] = 0
    words = flags[:nw * 8].view(np.uint64)
    start = y0 * w
    k = 0
    y = y0  # row of the current pixel, advanced without a division
    rowstart = start
    for q in range(nw):
        if words[q] == 0:
            continue
        for j in range(q * 8, q * 8 + 8):
            if not flags[j]:
                continue
            p = start + j
            v = hm[p]
            if check:
                while p >= rowstart + w:
                    rowstart += w
                    y += 1
                x = p - rowstart
                peak = True
                for yy in range(max(0, y - r), min(hh, y + r + 1)):
                    row = yy * w
                    for xx in range(max(0, x - r), min(w, x + r + 1)):
                        if hm[row + xx] > v:
                            peak = False
                            break
                    if not peak:
                        break
                if not peak:
                    continue
            idx_out[base + k] = p
            score_out[base + k] = v
            k += 1
    return k


@njit(**_SERIAL)
def _scratch(rows, w, r, dtype):
    n = (rows + 2 * r) * w
    colx = np.empty(n, np.int32)
    lpen = np.zeros(n, dtype)
    rpen = np.zeros(n, dtype)
    for y in range(rows + 2 * r):
        for x in range(w):
            colx[y * w + x] = x
        lpen[y * w] = -np.inf
        rpen[y * w + w - 1] = -np.inf
    rmax = np.empty(n, dtype)
    cmax = np.empty(rows * w, dtype)
    flags = np.empty(rows * w + 8, np.uint8)
    return colx, lpen, rpen, rmax, cmax, flags


@njit(**_SERIAL)
def _sort_segment(idx, score, lo, n):
    """Stable sort of ``[lo, lo+n)`` by descending score (raster order kept among ties)."""
    if n <= 1:
        return
    if n <= _INSERTION_MAX:
        for i in range(lo + 1, lo + n):
            s = score[i]
            k = idx[i]
            j = i - 1
            while j >= lo and score[j] < s:
                score[j + 1] = score[j]
                idx[j + 1] = idx[j]
                j -= 1
            score[j + 1] = s
            idx[j + 1] = k
        return
    seg = score[lo:lo + n]
    order = np.argsort(-seg, kind="mergesort")
    s2 = seg[order]
    i2 = idx[lo:lo + n][order]
    score[lo:lo + n] = s2
    idx[lo:lo + n] = i2


@njit(**_SERIAL)
def _assemble(idx, score, starts, counts, k_per_image, w, top_k):
    """The sorted per-map segments ``[starts[m], starts[m] + counts[m])`` into the final five
    arrays, keeping the first ``top_k`` of each (all when negative)."""
    nmaps = counts.size
    keep = counts if top_k < 0 else np.minimum(counts, top_k)
    total = keep.sum()
    batch = np.empty(total, np.int32)
    chan = np.empty(total, np.int32)
    ys = np.empty(total, np.int32)
    xs = np.empty(total, np.int32)
    sc = np.empty(total, score.dtype)
    o = 0
    for m in range(nmaps):
        b = m // k_per_image
        c = m % k_per_image
        for i in range(starts[m], starts[m] + keep[m]):
            p = idx[i]
            batch[o] = b
            chan[o] = c
            ys[o] = p // w
            xs[o] = p % w
            sc[o] = score[i]
            o += 1
    return batch, chan, ys, xs, sc


@njit(**_SERIAL)
def _compact_map(idx, score, counts, m, nb, brows, w, hw):
    """Move the block segments of map ``m`` together at the start of its region, sort them;
    return how many there are."""
    base = m * hw
    n = 0
    for b in range(nb):
        cnt = counts[m * nb + b]
        src = base + b * brows * w
        if src != base + n:
            for i in range(cnt):
                idx[base + n + i] = idx[src + i]
                score[base + n + i] = score[src + i]
        n += cnt
    _sort_segment(idx, score, base, n)
    return n


@njit(**_SERIAL)
def _block_rows(w):
    """Rows per block: about PEAK_BLOCK_PIXELS pixels (the scratch stays in L2), >= 8 rows."""
    return max(8, -(-PEAK_BLOCK_PIXELS // w))


@njit(**_SERIAL)
def find_peaks_serial(h, k_per_image, thr, window, top_k):
    """Peaks of every map of ``h`` (C, H, W): (batch, channel, y, x, score) arrays.

    Maps are processed in blocks of rows whose scratch stays in cache. Peaks are written
    contiguously into buffers that always keep room for one more block (doubling when
    needed), so only the pages that receive peaks are touched.
    """
    nmaps, hh, w = h.shape
    hw = hh * w
    r = window // 2
    flat = h.reshape(-1)
    brows = min(hh, _block_rows(w))
    cap = 2 * brows * w + 1024
    idx = np.empty(cap, np.int32)
    score = np.empty(cap, h.dtype)
    starts = np.zeros(nmaps, np.int64)
    counts = np.zeros(nmaps, np.int64)
    colx, lpen, rpen, rmax, cmax, flags = _scratch(brows, w, r, h.dtype)
    total = 0
    for m in range(nmaps):
        hm = flat[m * hw:(m + 1) * hw]
        starts[m] = total
        for y0 in range(0, hh, brows):
            y1 = min(hh, y0 + brows)
            if total + (y1 - y0) * w > cap:
                cap = 2 * (total + (y1 - y0) * w)
                idx2 = np.empty(cap, np.int32)
                idx2[:total] = idx[:total]
                score2 = np.empty(cap, h.dtype)
                score2[:total] = score[:total]
                idx = idx2
                score = score2
            total += _peaks_rows(hm, w, y0, y1, thr, r, colx, lpen, rpen, rmax, cmax, flags,
                                 idx, score, total)
        counts[m] = total - starts[m]
        _sort_segment(idx, score, starts[m], counts[m])
    return _assemble(idx, score, starts, counts, k_per_image, w, top_k)


@njit(**_PARALLEL)
def find_peaks_parallel(h, k_per_image, thr, window, top_k):
    """As :func:`find_peaks_serial`, the row blocks of all maps shared among the threads.

    Each block writes its peaks at its own offset of full-size buffers (only the pages that
    receive peaks are touched). Threads take runs of RUN_BLOCKS blocks, each run allocating its
    scratch once: setting up a block's scratch costs about as much as finding the peaks of a
    sparse block.
    """
    nmaps, hh, w = h.shape
    hw = hh * w
    r = window // 2
    flat = h.reshape(-1)
    brows = min(hh, _block_rows(w))
    nb = -(-hh // brows)
    ntasks = nmaps * nb
    nruns = -(-ntasks // RUN_BLOCKS)
    idx = np.empty(nmaps * hw, np.int32)
    score = np.empty(nmaps * hw, h.dtype)
    counts = np.zeros(ntasks, np.int64)
    for run in prange(nruns):
        colx, lpen, rpen, rmax, cmax, flags = _scratch(brows, w, r, h.dtype)
        for t in range(run * ntasks // nruns, (run + 1) * ntasks // nruns):
            m = t // nb
            y0 = (t % nb) * brows
            y1 = min(hh, y0 + brows)
            hm = flat[m * hw:(m + 1) * hw]
            counts[t] = _peaks_rows(hm, w, y0, y1, thr, r, colx, lpen, rpen, rmax, cmax, flags,
                                    idx, score, m * hw + y0 * w)
    starts = np.arange(nmaps) * hw
    per_map = np.zeros(nmaps, np.int64)
    for m in prange(nmaps):
        per_map[m] = _compact_map(idx, score, counts, m, nb, brows, w, hw)
    return _assemble(idx, score, starts, per_map, k_per_image, w, top_k)


# --- decode_heatmaps ------------------------------------------------------------------------
@njit(**_SERIAL)
def _sign(d):
    if d > 0:
        return 1.0
    if d < 0:
        return -1.0
    if d == 0:
        return 0.0
    return np.nan


@njit(**_SERIAL)
def _parabola(a, b, c):
    den = a - 2.0 * b + c
    if den == 0:
        return 0.0
    off = 0.5 * (a - c) / den
    # np.clip semantics: NaN stays NaN
    if off > 0.5:
        return 0.5
    if off < -0.5:
        return -0.5
    return off


@njit(**_SERIAL)
def _blur_at(hm, y, x, g):
    """Zero-padded separable Gaussian blur of map ``hm`` (H, W) at pixel (y, x), float64."""
    hh, w = hm.shape
    r = g.size // 2
    acc = 0.0
    for i in range(g.size):
        yy = y + i - r
        if yy < 0 or yy >= hh:
            continue
        row = 0.0
        for j in range(g.size):
            xx = x + j - r
            if 0 <= xx < w:
                row += g[j] * hm[yy, xx]
        acc += g[i] * row
    return acc


@njit(**_SERIAL)
def _blur_map(hm, g):
    """The whole zero-padded blurred map, float64 (only DARK's rare clamp path needs it)."""
    hh, w = hm.shape
    out = np.empty((hh, w))
    for y in range(hh):
        for x in range(w):
            out[y, x] = _blur_at(hm, y, x, g)
    return out


# offsets (dy, dx) of the 13 log-blurred values DARK's derivatives need
_DARK_DY = (0, 0, 0, -1, 1, -1, -1, 1, 1, 0, 0, -2, 2)
_DARK_DX = (0, -1, 1, 0, 0, -1, 1, -1, 1, -2, 2, 0, 0)


@njit(**_SERIAL)
def _dark_offset(hm, y, x, g):
    """One Newton step on the log of the blurred map at (y, x): (ox, oy); (0, 0) if singular.

    The blurred map is rescaled to the original maximum and clamped at 1e-10 before the log
    (mmpose). The rescaling factor ``s = max(h) / max(blur) >= 1`` cancels in the derivatives
    of the log unless the clamp bites, so the 13 values needed are blurred directly; only when
    one of them is below 1e-10 is the whole map blurred to apply the clamp exactly.
    """
    vals = np.empty(13)
    small = False
    for t in range(13):
        b = _blur_at(hm, y + _DARK_DY[t], x + _DARK_DX[t], g)
        vals[t] = b
        if not b >= 1e-10:
            small = True
    if small:
        full = _blur_map(hm, g)
        s = hm.max() / full.max()
        for t in range(13):
            v = full[y + _DARK_DY[t], x + _DARK_DX[t]] * s
            vals[t] = v if v > 1e-10 or v != v else 1e-10
    for t in range(13):
        vals[t] = np.log(vals[t])
    c0, xm, xp, ym, yp = vals[0], vals[1], vals[2], vals[3], vals[4]
    mm, mp, pm, pp = vals[5], vals[6], vals[7], vals[8]
    xm2, xp2, ym2, yp2 = vals[9], vals[10], vals[11], vals[12]
    dx = 0.5 * (xp - xm)
    dy = 0.5 * (yp - ym)
    dxx = 0.25 * (xp2 - 2 * c0 + xm2)
    dxy = 0.25 * (pp - mp - pm + mm)
    dyy = 0.25 * (yp2 - 2 * c0 + ym2)
    det = dxx * dyy - dxy * dxy
    if det == 0:
        return 0.0, 0.0
    ox = -(dyy * dx - dxy * dy) / det
    oy = -(dxx * dy - dxy * dx) / det
    return ox, oy


@njit(**_SERIAL)
def _decode_map(h, am, m, refine, g, coords, scores):
    hh = h.shape[1]
    w = h.shape[2]
    hm = h[m]
    i = am[m]
    y = i // w
    x = i % w
    v = hm[y, x]
    scores[m] = v
    if v <= 0:
        coords[m, 0] = -1.0
        coords[m, 1] = -1.0
        return
    fx = float(x)
    fy = float(y)
    if refine == REFINE_SHIFT:
        if 1 <= x <= w - 2:
            fx += 0.25 * _sign(float(hm[y, x + 1]) - float(hm[y, x - 1]))
        if 1 <= y <= hh - 2:
            fy += 0.25 * _sign(float(hm[y + 1, x]) - float(hm[y - 1, x]))
    elif refine == REFINE_QUADRATIC:
        if 1 <= x <= w - 2:
            fx += _parabola(float(hm[y, x - 1]), float(v), float(hm[y, x + 1]))
        if 1 <= y <= hh - 2:
            fy += _parabola(float(hm[y - 1, x]), float(v), float(hm[y + 1, x]))
    elif refine == REFINE_DARK:
        if 2 <= x <= w - 3 and 2 <= y <= hh - 3:
            ox, oy = _dark_offset(hm, y, x, g)
            fx += ox
            fy += oy
    coords[m, 0] = fx
    coords[m, 1] = fy


@njit(**_SERIAL)
def decode_serial(h, am, refine, g):
    """Per map: score and refined (x, y) at the flat argmax ``am[m]``; ``g`` is DARK's blur.

    The argmax comes from ``np.argmax`` (faster than the Numba loops tried, see
    docs/heatmap.md, and it defines the tie and NaN rules).
    """
    nmaps = h.shape[0]
    coords = np.empty((nmaps, 2), np.float32)
    scores = np.empty(nmaps, h.dtype)
    for m in range(nmaps):
        _decode_map(h, am, m, refine, g, coords, scores)
    return coords, scores


@njit(**_PARALLEL)
def decode_parallel(h, am, refine, g):
    nmaps = h.shape[0]
    coords = np.empty((nmaps, 2), np.float32)
    scores = np.empty(nmaps, h.dtype)
    for m in prange(nmaps):
        _decode_map(h, am, m, refine, g, coords, scores)
    return coords, scores
