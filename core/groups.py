"""Priors as boxes, gathered into groups that are decided and described on their own.

A prior source gives the pixel boxes of its pieces (polygons, or connected parts of a mask) and draws its mask in
any window. Boxes closer than :data:`GROUP_MARGIN` pixels form one group; a group's window (its boxes grown by the
margin) holds every prior pixel that its components' rings, clusters and growth can reach, and nothing of another
group, so deciding a group alone gives exactly what deciding the whole image gives, and plants never span two
groups. A full tile then needs no whole-tile mask or label raster, and tiles of a region can share out the groups.
"""
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from . import improved
from .components import label_components

#: Boxes closer than this (pixels) are one group: room for a component's window (``improved.MARGIN``), for the
#: growth of the component beyond it (``improved.MAX_GROW``) and one pixel, so that plants of two groups never touch.
GROUP_MARGIN = improved.MARGIN + improved.MAX_GROW + 1


class PriorSource:
    """Prior pieces of one role on a raster of ``shape``: ``boxes`` is an (n, 4) int64 array of (top, left,
    bottom, right), bottom and right exclusive, in raster pixels (a box may reach beyond the raster);
    :meth:`render` draws the pieces ``members`` (indices into ``boxes``) in a window. ``name`` names the product
    the pieces come from (a layer name), for the plants' provenance; unnamed sources are not counted there."""
    boxes = np.zeros((0, 4), np.int64)
    name = ""

    def render(self, window, members):
        """Bool mask of the window (rows, cols slices inside the raster) with the pixels of pieces ``members``."""
        raise NotImplementedError

    def layers(self, window, members):
        """[(name, bool mask)]: the pieces ``members`` drawn in the window, per product (here one)."""
        return [(self.name, self.render(window, members))]


class ArrayPriors(PriorSource):
    """The prior pieces of a bool mask in memory: its 8-connected components. The mask may reach beyond the raster
    by ``pad`` pixels on every side (as a mask warped onto a tile grid grown by ``pad``): the boxes of pieces that
    cross the raster's edge are then whole, as those of polygons are, so that tiles of a region agree on them."""

    def __init__(self, mask, name="", pad=0):
        self.mask, self.name, self.pad = np.asarray(mask, bool), name, pad
        if not self.mask.any():
            return
        labels, _ = label_components(self.mask)
        found = [f for f in ndimage.find_objects(labels) if f is not None]
        del labels
        self.boxes = np.array([(r.start - pad, c.start - pad, r.stop - pad, c.stop - pad) for r, c in found],
                              np.int64).reshape(-1, 4)

    def render(self, window, members):
        # the members of a group are all the pieces its window touches, so the mask can be taken as it is
        rows, cols = window
        return self.mask[rows.start + self.pad:rows.stop + self.pad, cols.start + self.pad:cols.stop + self.pad].copy()


def prior_source(priors, shape):
    """``priors`` as a :class:`PriorSource`: a bool mask of ``shape`` becomes :class:`ArrayPriors`, None no
    priors."""
    if priors is None:
        return PriorSource()
    if isinstance(priors, PriorSource):
        return priors
    mask = np.asarray(priors, bool)
    if mask.shape != tuple(shape):
        raise ValueError("prior mask of shape %s on an image of shape %s" % (mask.shape, tuple(shape)))
    return ArrayPriors(mask)


@dataclass
class PriorGroup:
    """Prior pieces decided together: ``box`` (top, left, bottom, right; may reach beyond the raster) bounds them;
    ``trusted`` and ``candidate`` are their indices in each source's boxes."""
    box: tuple
    trusted: list = field(default_factory=list)
    candidate: list = field(default_factory=list)

    def window(self, shape, margin=GROUP_MARGIN):
        """The group's box grown by ``margin`` pixels, clipped to a raster of ``shape``: (rows, cols) slices."""
        top, left, bottom, right = self.box
        return (slice(max(top - margin, 0), min(bottom + margin, shape[0])),
                slice(max(left - margin, 0), min(right + margin, shape[1])))

    @property
    def centre(self):
        """(row, col) of the centre of the box, in raster pixels."""
        top, left, bottom, right = self.box
        return (top + bottom) / 2.0, (left + right) / 2.0


def _near_pairs(boxes, margin):
    """Index arrays (i, j) of the pairs of boxes whose gap is below ``margin`` in both directions (they would share
    pixels if one were grown by ``margin``): a sweep over the boxes sorted by their left edge."""
    order = np.argsort(boxes[:, 1], kind="stable")
    ordered = boxes[order]
    ends = np.searchsorted(ordered[:, 1], ordered[:, 3] + margin, side="left")
    counts = np.maximum(ends - np.arange(1, len(ordered) + 1), 0)
    first = np.repeat(np.arange(len(ordered)), counts)
    # the boxes after each one up to its end: 1, 2, … counting up from the box itself
    second = first + np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts) + 1
    near = (ordered[second, 0] < ordered[first, 2] + margin) & (ordered[second, 2] > ordered[first, 0] - margin)
    return order[first[near]], order[second[near]]


def group_boxes(boxes, margin=GROUP_MARGIN):
    """Gather (n, 4) boxes into groups: [(union box, [indices]), …] such that no box of one group comes within
    ``margin`` pixels of another group's union box. Groups are in raster order of their union boxes."""
    boxes = np.asarray(boxes, np.int64).reshape(-1, 4)
    group_of = np.arange(len(boxes))  # the group of each box, groups numbered in order of their first box
    unions = boxes.copy()
    while True:
        first, second = _near_pairs(unions, margin)
        count, merged = connected_components(coo_matrix((np.ones(first.size), (first, second)),
                                                        shape=(len(unions),) * 2), directed=False)
        if count == len(unions):
            break
        group_of = merged[group_of]
        unions = np.column_stack([_per_group(reduce, unions[:, column], merged, count)
                                  for column, reduce in enumerate((np.minimum, np.minimum, np.maximum, np.maximum))])
    order = np.lexsort((unions[:, 1], unions[:, 0])) if len(unions) else []
    members = np.split(np.argsort(group_of, kind="stable"), np.cumsum(np.bincount(group_of, minlength=len(unions))))
    return [(tuple(int(v) for v in unions[i]), members[i].tolist()) for i in order]


def _per_group(reduce, values, groups, count):
    """``values`` (int64) reduced per group 0…count − 1 by the ufunc ``reduce`` (``np.minimum`` or ``np.maximum``)."""
    start = np.iinfo(np.int64).max if reduce is np.minimum else np.iinfo(np.int64).min
    result = np.full(count, start)
    reduce.at(result, groups, values)
    return result


def group_priors(trusted, candidate, margin=GROUP_MARGIN):
    """:class:`PriorGroup` s of the pieces of two prior sources (trusted and candidate), in raster order."""
    split = len(trusted.boxes)
    groups = []
    for box, members in group_boxes(np.vstack([trusted.boxes, candidate.boxes]), margin):
        groups.append(PriorGroup(box, [i for i in members if i < split], [i - split for i in members if i >= split]))
    return groups


class UnionPriors(PriorSource):
    """Several prior sources of one role (several layers) as one: their boxes in turn."""

    def __init__(self, sources):
        self.sources = list(sources)
        self.starts = np.cumsum([0] + [len(source.boxes) for source in self.sources])
        self.boxes = np.vstack([source.boxes for source in self.sources] + [np.zeros((0, 4), np.int64)])

    def render(self, window, members):
        mask = np.zeros((window[0].stop - window[0].start, window[1].stop - window[1].start), bool)
        for _, layer in self.layers(window, members):
            mask |= layer
        return mask

    def layers(self, window, members):
        """Each source's pieces among ``members`` drawn in the window: [(its name, bool mask)], sources with none
        left out."""
        members = np.asarray(members, np.int64)
        drawn = []
        for source, start, stop in zip(self.sources, self.starts[:-1], self.starts[1:]):
            own = members[(members >= start) & (members < stop)] - start
            if own.size:
                drawn += source.layers(window, own.tolist())
        return drawn
