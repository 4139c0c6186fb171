"""Which tile of a region decides a prior group, so that each group is decided once, whole, with its surroundings.

Every tile sees the footprints of all tiles as quadrilaterals in its own pixel coordinates (x = column, y = row;
its own footprint is the rectangle (0, 0)–(width, height)). A tile *can decide* a group when every part of the
group's window (its box grown by ``groups.GROUP_MARGIN``) that lies in any tile lies in that tile: the window then
holds the same pixels as in one image of the whole region (outside the region, like beyond an image edge, there is
nothing). Of the tiles that can decide a group, the one where the group's centre lies deepest (farthest from the
footprint's edges) decides it; equal depths go to the tile listed first. A group wider than every overlap, which
no tile can hold, is decided by the tile where its centre lies deepest, with what that tile holds of it.

Tiles on the same pixel grid (same CRS, pixel size, and origins a whole number of pixels apart, as Sentinel-2 tiles
of one UTM zone are) see identical numbers, so exactly one of them decides. Across grids (another UTM zone) the
group is rasterised a little differently in each tile; a tile then counts another as able to decide only when the
window fits it with :data:`CROSS_GRID_TOLERANCE` pixels to spare, and gives way only to a centre deeper by more than
that. A group may then be decided by two tiles, never by none; the merge keeps the deeper one.
"""
import numpy as np

#: Pixels of slack when comparing a group's place in tiles on different pixel grids.
CROSS_GRID_TOLERANCE = 2.0
#: Slack for rounding on the same grid (coordinates there are whole or half pixels, so this is exact).
SAME_GRID_TOLERANCE = 1e-6


def _oriented(quad):
    """The quad's corners (4, 2) counter-clockwise in (x, y), whatever order they came in."""
    quad = np.asarray(quad, float)
    x, y = quad[:, 0], quad[:, 1]
    area = np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y)
    return quad if area > 0 else quad[::-1]


def depth(quad, points):
    """Signed distance (pixels) of (n, 2) points to the edges of a convex quad: positive inside, the distance to
    the nearest edge."""
    quad = _oriented(quad)
    points = np.atleast_2d(np.asarray(points, float))
    start, end = quad, np.roll(quad, -1, axis=0)
    edge = end - start
    length = np.hypot(edge[:, 0], edge[:, 1])
    relative = points[:, None, :] - start[None, :, :]
    cross = edge[None, :, 0] * relative[..., 1] - edge[None, :, 1] * relative[..., 0]
    return (cross / length[None, :]).min(axis=1)


def clip_to_rectangle(quad, rectangle):
    """The part of a convex quad inside an axis-aligned rectangle (x0, y0, x1, y1), as polygon corners (m, 2);
    empty (0, 2) when they do not overlap (Sutherland–Hodgman)."""
    polygon = [tuple(corner) for corner in _oriented(quad)]
    x0, y0, x1, y1 = rectangle
    for axis, bound, keep_above in ((0, x0, True), (0, x1, False), (1, y0, True), (1, y1, False)):
        inside = (lambda p: p[axis] >= bound) if keep_above else (lambda p: p[axis] <= bound)
        clipped = []
        for current, following in zip(polygon, polygon[1:] + polygon[:1]):
            if inside(current):
                clipped.append(current)
            if inside(current) != inside(following):
                share = (bound - current[axis]) / (following[axis] - current[axis])
                clipped.append(tuple(c + share * (f - c) for c, f in zip(current, following)))
        polygon = clipped
        if not polygon:
            break
    points = np.array(polygon, float).reshape(-1, 2)
    if len(points) < 3 or _area(points) <= SAME_GRID_TOLERANCE:
        return np.zeros((0, 2))
    return points


def _as_rectangle(quad):
    """(x0, y0, x1, y1) of a quad that is an axis-aligned rectangle, else None."""
    xs, ys = np.unique(quad[:, 0]), np.unique(quad[:, 1])
    if len(xs) != 2 or len(ys) != 2:
        return None
    return float(xs[0]), float(ys[0]), float(xs[1]), float(ys[1])


def _intersection(a, b):
    """The overlap (x0, y0, x1, y1) of two axis-aligned rectangles, or None when it has no area."""
    x0, y0, x1, y1 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def _point_depth(rectangle, point):
    x, y = point
    return min(x - rectangle[0], y - rectangle[1], rectangle[2] - x, rectangle[3] - y)


def _area(points):
    x, y = points[:, 0], points[:, 1]
    return abs(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y)) / 2


class TileOwnership:
    """Decides which prior groups tile ``index`` of a region owns.

    ``quads`` holds every tile's footprint corners (4, 2) in this tile's pixel coordinates (x = column, y = row),
    this tile's own included; ``same_grid[j]`` tells whether tile j is on this tile's pixel grid.
    """

    def __init__(self, index, quads, same_grid, absent=()):
        self.index = index
        self.quads = [np.asarray(quad, float) for quad in quads]
        self.same_grid = list(same_grid)
        #: (x0, y0, x1, y1) of the quads that are axis-aligned rectangles (tiles on this grid), for speed.
        self.rectangles = [_as_rectangle(quad) for quad in self.quads]
        #: Tiles left out, as if they were not given (tiles that failed).
        self.absent = frozenset(absent)
        self.counted = [tile for tile in range(len(self.quads)) if tile not in self.absent]

    def without(self, tiles):
        """The ownership of the same tile when ``tiles`` are left out (their groups go to the tiles that are left)."""
        return TileOwnership(self.index, self.quads, self.same_grid, self.absent | set(tiles))

    def tolerance(self, tile):
        """Pixels of slack when comparing with tile ``tile`` (see the module)."""
        return SAME_GRID_TOLERANCE if self.same_grid[tile] else CROSS_GRID_TOLERANCE

    def can_decide(self, tile, rectangle, slack):
        """Does every part of ``rectangle`` (x0, y0, x1, y1) that lies in some tile lie in ``tile``, with ``slack``
        pixels to spare (negative slack forgives)?"""
        target = self.rectangles[tile]
        for other in self.counted:
            quad, aligned = self.quads[other], self.rectangles[other]
            if aligned is not None and target is not None:
                piece = _intersection(aligned, rectangle)
                if piece is not None and min(piece[0] - target[0], piece[1] - target[1], target[2] - piece[2],
                                             target[3] - piece[3]) < slack:
                    return False
                continue
            piece = clip_to_rectangle(quad, rectangle)
            if len(piece) and depth(self.quads[tile], piece).min() < slack:
                return False
        return True

    def owner_depth(self, box, margin, tile=None):
        """The depth (pixels) of the centre of a group's ``box`` (top, left, bottom, right in this tile's pixels)
        when this tile (or ``tile``) decides the group (its window being the box grown by ``margin``), else None.
        The merge uses the depth to choose between two tiles on different grids that both decided a group."""
        tile = self.index if tile is None else tile
        top, left, bottom, right = box
        rectangle = (left - margin, top - margin, right + margin, bottom + margin)
        centre = ((left + right) / 2.0, (top + bottom) / 2.0)
        if self.can_decide(tile, rectangle, -SAME_GRID_TOLERANCE):
            rivals = [other for other in self.counted if other != tile and self.can_decide(
                other, rectangle, -self.tolerance(other) if self.same_grid[other] else self.tolerance(other))]
        elif any(self.can_decide(other, rectangle, -self.tolerance(other)) for other in self.counted):
            return None
        else:  # wider than every overlap: the tile where its centre lies deepest decides what it holds of it
            rivals = [other for other in self.counted if other != tile]
        return self._deepest(centre, rivals, tile)

    def owner(self, box, margin):
        """The tile that decides a group (see :meth:`owner_depth`), seen from this tile; None when none does."""
        return next((tile for tile in self.counted if self.owner_depth(box, margin, tile) is not None), None)

    def reaches_another_tile(self, box):
        """Does a plant with pixel ``box`` (top, left, bottom, right; bottom and right exclusive) reach an edge of
        this tile beyond which another tile goes on? Then this tile may have seen only a piece of it."""
        top, left, bottom, right = box
        x0, y0, x1, y1 = self.rectangles[self.index] or (0, 0, 0, 0)
        if top > y0 and left > x0 and bottom < y1 and right < x1:
            return False
        return not self.can_decide(self.index, (left - 1, top - 1, right + 1, bottom + 1), -SAME_GRID_TOLERANCE)

    def depth_of(self, tile, point):
        """Depth (pixels) of an (x, y) point in tile ``tile``'s footprint (negative outside)."""
        if self.rectangles[tile] is not None:
            return _point_depth(self.rectangles[tile], point)
        return float(depth(self.quads[tile], point)[0])

    def _deepest(self, centre, rivals, tile):
        """Tile ``tile``'s depth of ``centre`` if no rival tile holds it deeper (see the module), else None."""
        own = self.depth_of(tile, centre)
        for other in rivals:
            tolerance = self.tolerance(other)
            depth_there = self.depth_of(other, centre)
            if depth_there > own + tolerance or (self.same_grid[other] and abs(depth_there - own) <= tolerance
                                                 and other < tile):
                return None
        return own
