"""Context of each plant from a class raster (a GUM urban map, an LCZ map, ESA WorldCover, WSF…): the class under
most of the plant, its share, and its name when the raster names its classes."""
from ..core.plants import majority_class
from .raster import category_names, on_grid

#: Fields added to the plant layer when a CONTEXT raster is given.
CONTEXT_FIELDS = (("context_class", "int"), ("context_name", "string", 64), ("context_share", "double"))


class PlantContext:
    """The context raster (band 1) on the image grid (nearest neighbour), read plant window by plant window."""

    def __init__(self, path, crs_wkt, grid):
        self.names = category_names(path)
        self.dataset = on_grid(path, grid, crs_wkt)

    def of_plant(self, window, plant_pixels):
        """[class, name, share] of the pixels ``plant_pixels`` (bool, in ``window``); NULLs when none is classed."""
        rows, cols = window
        values = self.dataset.GetRasterBand(1).ReadAsArray(
            int(cols.start), int(rows.start), int(cols.stop - cols.start), int(rows.stop - rows.start))
        found, share = majority_class(values[plant_pixels])
        if found is None:
            return [None, None, share]
        found = int(found)
        name = self.names[found] if 0 <= found < len(self.names) and self.names[found] else None
        return [found, name, share]
