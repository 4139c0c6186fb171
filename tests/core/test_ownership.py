"""Which tile decides a prior group (``core.ownership``): exactly one on one grid, at least one across grids."""
import numpy as np

from fusion_pv_mapping.core.ownership import CROSS_GRID_TOLERANCE, TileOwnership, clip_to_rectangle, depth

#: Four 100-pixel tiles on one grid, overlapping by 40 px: their origins (column, row) in a common pixel frame.
ORIGINS = ((0, 0), (60, 0), (0, 60), (60, 60))
SIZE = 100


def ownerships(origins=ORIGINS, size=SIZE):
    """Each tile's view: every footprint in its own pixel coordinates."""
    views = []
    for index, (x, y) in enumerate(origins):
        quads = [[(ox - x, oy - y), (ox - x + size, oy - y), (ox - x + size, oy - y + size), (ox - x, oy - y + size)]
                 for ox, oy in origins]
        views.append(TileOwnership(index, quads, [True] * len(origins)))
    return views


def owners(views, box, margin, origins=ORIGINS):
    """Tiles that decide a group whose box is given in the common frame."""
    top, left, bottom, right = box
    return [index for index, view in enumerate(views)
            if view.owner_depth((top - origins[index][1], left - origins[index][0], bottom - origins[index][1],
                                 right - origins[index][0]), margin) is not None]


def test_every_group_has_exactly_one_owner_on_one_grid():
    views = ownerships()
    rng = np.random.default_rng(7)
    for _ in range(400):
        top, left = rng.integers(-5, 160, 2)
        height, width = rng.integers(1, 25, 2)
        box = (top, left, top + height, left + width)
        assert len(owners(views, box, 8)) == 1, box


def test_the_owner_holds_the_whole_window_where_some_tile_can():
    views = ownerships()
    box = (70, 45, 80, 55)  # in the overlap of all four tiles: the deepest centre wins
    assert owners(views, box, 8) == [0]
    box = (20, 70, 30, 100)  # window 62…108 in columns: only the top-right tile (60…160) holds it whole
    assert owners(views, box, 8) == [1]


def test_a_group_wider_than_every_overlap_still_has_one_owner():
    views = ownerships()
    assert len(owners(views, (10, 20, 30, 140), 8)) == 1


def test_rotated_tile_of_another_grid_leaves_no_group_without_owner():
    """Tile 1 is another UTM zone: its footprint is turned by 2° in tile 0's pixels."""
    angle = np.radians(2)
    turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    square = np.array([(0, 0), (SIZE, 0), (SIZE, SIZE), (0, SIZE)], float)
    other_in_first = square @ turn.T + (60, 0)
    first_in_other = (square - (60, 0)) @ turn  # the inverse turn
    views = [TileOwnership(0, [square, other_in_first], [True, False]),
             TileOwnership(1, [first_in_other, square], [False, True])]
    rng = np.random.default_rng(11)
    for _ in range(300):
        top, left = rng.integers(5, 80, 2)
        box = (top, left, top + 6, left + 6)
        corners = np.array([(left, top), (left + 6, top), (left + 6, top + 6), (left, top + 6)], float)
        in_other = (corners - (60, 0)) @ turn  # (x, y) in tile 1's pixels
        other_box = (in_other[:, 1].min(), in_other[:, 0].min(), in_other[:, 1].max(), in_other[:, 0].max())
        decided = [views[0].owner_depth(box, 8) is not None, views[1].owner_depth(other_box, 8) is not None]
        assert any(decided), box
    assert CROSS_GRID_TOLERANCE > 0


def test_depth_and_clipping_of_a_quad():
    quad = np.array([(0, 0), (10, 0), (10, 10), (0, 10)], float)
    assert np.allclose(depth(quad, [(5, 5), (1, 5), (-2, 5)]), [5, 1, -2])
    assert np.allclose(depth(quad[::-1], [(5, 5)]), [5])  # either orientation
    piece = clip_to_rectangle(quad, (5, -3, 20, 4))
    assert np.allclose(sorted(map(tuple, piece)), sorted([(5, 0), (10, 0), (10, 4), (5, 4)]))
    assert len(clip_to_rectangle(quad, (11, 11, 20, 20))) == 0


def test_a_plant_at_an_edge_where_another_tile_goes_on_is_a_possible_piece():
    """Two 100-pixel tiles that touch at column 100 of the common frame (no overlap)."""
    west, east = ownerships(origins=((0, 0), (100, 0)))
    assert west.reaches_another_tile((40, 90, 50, 100))  # touches the shared edge from the west
    assert east.reaches_another_tile((40, 0, 50, 5))  # and from the east
    assert not west.reaches_another_tile((40, 80, 50, 99))  # one pixel short of it
    assert not west.reaches_another_tile((0, 10, 5, 20))  # the region's outer edge: nothing goes on there
    assert not ownerships(origins=((0, 0),))[0].reaches_another_tile((40, 90, 50, 100))  # a single tile
