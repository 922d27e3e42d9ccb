"""The plugin object: registers the TransGeo Processing provider, nothing else.

QGIS calls initProcessing() for plugins with hasProcessingProvider=yes (also in
qgis_process, without a GUI), initGui() when the desktop application starts and
unload() when the plugin is disabled.
"""
from qgis.core import QgsApplication

from .provider import TransGeoProvider


class TransGeoPlugin:
    def __init__(self, iface):
        self.iface = iface
        self.provider = None

    def initProcessing(self):  # noqa: N802 (QGIS's name)
        if self.provider is None:
            self.provider = TransGeoProvider()
            QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self):  # noqa: N802
        self.initProcessing()

    def unload(self):
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
