"""Pure numpy/scipy core of Fusion PV Mapping.

Nothing here imports QGIS or GDAL: functions take numpy arrays (plus a geotransform and CRS where a result
needs them) and return arrays, so they can be tested and reused outside QGIS.
"""
