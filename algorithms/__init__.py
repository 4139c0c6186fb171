"""QGIS Processing algorithms of Fusion PV Mapping: thin wrappers around :mod:`..core`."""
