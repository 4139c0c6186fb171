"""Windows of a raster: the (rows, cols) slice pairs the core reads, decides and describes plants in.

Windows are block-aligned where they are read (see :mod:`.bandsource`), grown around prior components, grouped so
that neighbouring components share one read, and turned into row-major flat indices of the full raster.
"""
import numpy as np


#: Side (pixels) of the windows read at once: whole blocks, about this many pixels on a side.
READ_TARGET = 512


def read_shape(block_shape, shape, target=READ_TARGET):
    """Window shape for block-wise reading: whole blocks, about ``target`` pixels on a side, never above ``shape``."""
    return tuple(min(size, max(block, block * max(1, target // block))) for block, size in zip(block_shape, shape))


def block_grid(shape, window_shape):
    """Every window (rows, cols slices) of the grid of ``window_shape`` windows over a raster of ``shape``."""
    for top in range(0, shape[0], window_shape[0]):
        for left in range(0, shape[1], window_shape[1]):
            yield (slice(top, min(top + window_shape[0], shape[0])),
                   slice(left, min(left + window_shape[1], shape[1])))


def occupied_windows(mask, window_shape):
    """(rows, cols) slices of the grid of ``window_shape`` windows that contain a True pixel of ``mask``."""
    height, width = mask.shape
    row_starts = np.arange(0, height, window_shape[0])
    col_starts = np.arange(0, width, window_shape[1])
    any_in_row_band = np.logical_or.reduceat(mask, row_starts, axis=0)
    occupied = np.logical_or.reduceat(any_in_row_band, col_starts, axis=1)
    windows = []
    for i, j in zip(*np.nonzero(occupied)):
        windows.append((slice(row_starts[i], min(row_starts[i] + window_shape[0], height)),
                        slice(col_starts[j], min(col_starts[j] + window_shape[1], width))))
    return windows


def grown_window(found, margin, shape):
    """The slices of ``ndimage.find_objects`` grown by ``margin`` pixels and clipped to ``shape``."""
    rows, cols = found
    return (slice(max(rows.start - margin, 0), min(rows.stop + margin, shape[0])),
            slice(max(cols.start - margin, 0), min(cols.stop + margin, shape[1])))


def flat_indices(window, local, width):
    """Row-major flat indices in the full raster (of ``width`` columns) of the True pixels of ``local``."""
    rows, cols = np.nonzero(local)
    return (rows + window[0].start).astype(np.int64) * width + (cols + window[1].start)


def group_windows(bands, windows, target=None):
    """Group many small windows for reading: windows starting in the same block-aligned read window form one
    group read at once (their bounding window), very large groups are split into single windows. Returns
    [(read window, [positions in ``windows``]), …] in raster order."""
    shape = bands.shape
    tile = read_shape(bands.block_shape, shape, target or bands.read_target)
    groups = {}
    for position, (rows, cols) in enumerate(windows):
        groups.setdefault((rows.start // tile[0], cols.start // tile[1]), []).append(position)
    result = []
    for key in sorted(groups):
        members = groups[key]
        top = min(windows[p][0].start for p in members)
        left = min(windows[p][1].start for p in members)
        bottom = max(windows[p][0].stop for p in members)
        right = max(windows[p][1].stop for p in members)
        if (bottom - top) * (right - left) > 4 * tile[0] * tile[1]:
            result.extend((windows[p], [p]) for p in members)
        else:
            result.append(((slice(top, bottom), slice(left, right)), members))
    return result


def sub_window(block, read_window, window):
    """The part of DN arrays ``block`` (read for ``read_window``) that covers ``window``."""
    local = (slice(window[0].start - read_window[0].start, window[0].stop - read_window[0].start),
             slice(window[1].start - read_window[1].start, window[1].stop - read_window[1].start))
    return {role: band[local] for role, band in block.items()}
