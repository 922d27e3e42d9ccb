"""The TransGeo Processing provider: three algorithms over the transgeo CLI and
its SQL extension (id "transgeo", shown as "TransGeo" in the toolbox)."""
import os

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtGui import QIcon

from . import settings
from .algorithms.heat_map import SimilarityHeatMap
from .algorithms.index_raster import IndexRaster
from .algorithms.locate_photos import LocatePhotos

ICON_PATH = os.path.join(os.path.dirname(__file__), 'icons', 'transgeo.svg')


def _plugin_version():
    path = os.path.join(os.path.dirname(__file__), 'metadata.txt')
    with open(path, encoding='utf-8') as f:
        for line in f:
            if line.startswith('version='):
                return line.split('=', 1)[1].strip()
    return '?'


class TransGeoProvider(QgsProcessingProvider):
    def load(self):
        settings.add_settings(self.tr)
        self.refreshAlgorithms()
        return True

    def unload(self):
        settings.remove_settings()

    def loadAlgorithms(self):  # noqa: N802 (QGIS's name)
        for alg in (IndexRaster(), LocatePhotos(), SimilarityHeatMap()):
            self.addAlgorithm(alg)

    def id(self):
        return 'transgeo'

    def name(self):
        return 'TransGeo'

    def longName(self):  # noqa: N802
        return self.tr('TransGeo photo geo-localisation')

    def versionInfo(self):  # noqa: N802
        return 'TransGeo plugin {}'.format(_plugin_version())

    def icon(self):
        return QIcon(ICON_PATH)

    def svgIconPath(self):  # noqa: N802
        return ICON_PATH

    def tr(self, string):
        return QCoreApplication.translate('TransGeoProvider', string)
