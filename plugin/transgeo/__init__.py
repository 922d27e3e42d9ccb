"""TransGeo QGIS plugin: a Processing provider over the transgeo command line.

QGIS imports this package and calls classFactory(iface) to get the plugin object.
"""


def classFactory(iface):  # noqa: N802 (QGIS's name)
    """Return the plugin instance; QGIS passes its interface object."""
    from .plugin import TransGeoPlugin
    return TransGeoPlugin(iface)
