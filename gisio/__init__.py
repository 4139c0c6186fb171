"""GIS input and output: everything that touches GDAL, OGR or QGIS data.

``raster`` (grids, windowed band reading, atomic writing), ``vector`` (rasterise, polygonise, areas), ``priors``
(prior layers as masks), ``sentinel2`` (the image of an algorithm), ``s2_files`` (SAFE products and band folders),
``time_series`` (netCDF and stacks over time), ``plant_layer`` and ``tables`` (output features), ``outputs``
(destinations and styles), ``reports`` (HTML). Algorithms call these; the core never does.
"""
