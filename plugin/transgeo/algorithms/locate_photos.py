"""Locate photos: `transgeo locate PHOTO|DIR... --db DB -k K [--near LON,LAT --radius M] -o OUT.gpkg`.

The CLI writes a GeoPackage with a point layer (one located point per photo),
the `matched_tiles` polygons and a `failures` table; this algorithm returns and
loads the first two (and the failures when there are any).
"""
import os

from qgis.PyQt.QtCore import QPointF
from qgis.PyQt.QtGui import QColor

from qgis.core import (QgsCoordinateReferenceSystem, QgsMarkerSymbol, QgsProcessing,
                       QgsProcessingContext, QgsProcessingException,
                       QgsProcessingLayerPostProcessorInterface, QgsProcessingOutputNumber,
                       QgsProcessingOutputVectorLayer, QgsProcessingParameterBoolean,
                       QgsProcessingParameterDefinition, QgsProcessingParameterFile,
                       QgsProcessingParameterFileDestination, QgsProcessingParameterMultipleLayers,
                       QgsProcessingParameterNumber, QgsProcessingParameterPoint,
                       QgsProcessingParameterString, QgsProperty, QgsProviderRegistry,
                       QgsSimpleMarkerSymbolLayer, QgsSimpleMarkerSymbolLayerBase,
                       QgsSingleSymbolRenderer, QgsSymbolLayer, QgsVectorLayer, QgsWkbTypes)

from .base import TransGeoAlgorithm

TILES_LAYER = 'matched_tiles'
FAILURES_LAYER = 'failures'


def gpkg_layers(path):
    """{'points': details, 'tiles': details, 'failures': details} found in a GeoPackage.

    Points: the first point layer; tiles: `matched_tiles`, else the first
    polygon layer; failures: `failures`, else the first table without geometry.
    """
    found = {}
    for d in QgsProviderRegistry.instance().querySublayers(path):
        gtype = QgsWkbTypes.geometryType(d.wkbType())
        if gtype == QgsWkbTypes.PointGeometry:
            found.setdefault('points', d)
        elif gtype == QgsWkbTypes.PolygonGeometry:
            if d.name() == TILES_LAYER or 'tiles' not in found:
                found['tiles'] = d
        elif d.name() == FAILURES_LAYER or ('failures' not in found and gtype == QgsWkbTypes.NullGeometry):
            found['failures'] = d
    return found


def remove_geopackage(path, feedback):
    """Delete an earlier output (and its -wal/-shm): the CLI would resume into it."""
    for p in (path, path + '-wal', path + '-shm', path + '-journal'):
        if os.path.exists(p):
            try:
                os.remove(p)
            except OSError as e:
                raise QgsProcessingException("cannot replace '{}': {}".format(p, e.strerror or e))
            if p == path:
                feedback.pushInfo("replaced the earlier output '{}'".format(path))



def view_direction_symbol():
    """The located photos' default symbol: a dot for the place and an arrowhead
    pointing where the camera looked, rotated by the layer's "heading" field
    (degrees clockwise from true north, as QGIS rotates markers on a north-up
    map) and hidden for photos without a heading."""
    sym = QgsMarkerSymbol.createSimple({'name': 'circle', 'size': '2.4', 'color': '31,120,180',
                                        'outline_color': '255,255,255', 'outline_width': '0.3'})
    arrow = QgsSimpleMarkerSymbolLayer(QgsSimpleMarkerSymbolLayerBase.ArrowHead, 3.2)
    arrow.setColor(QColor(31, 120, 180))
    arrow.setStrokeColor(QColor(31, 120, 180))
    arrow.setStrokeWidth(0.6)
    arrow.setOffset(QPointF(0, -2.4))  # ahead of the dot, turned with the angle
    arrow.setDataDefinedProperty(QgsSymbolLayer.PropertyAngle, QgsProperty.fromField('heading'))
    arrow.setDataDefinedProperty(QgsSymbolLayer.PropertyLayerEnabled,
                                 QgsProperty.fromExpression('"heading" IS NOT NULL'))
    sym.appendSymbolLayer(arrow)
    return sym


def view_direction_style():
    """A new post-processor per run: the layer details take it over (QGIS
    deletes it with the context), but its Python side must outlive the
    algorithm object, a per-run copy: the last one is kept here (the pattern
    of the QGIS Processing documentation)."""
    global _STYLE
    _STYLE = ViewDirectionStyle()
    return _STYLE


_STYLE = None


class ViewDirectionStyle(QgsProcessingLayerPostProcessorInterface):
    """Styles the loaded "Located photos" layer with view_direction_symbol()."""

    def postProcessLayer(self, layer, context, feedback):  # noqa: N802 (QGIS's name)
        if isinstance(layer, QgsVectorLayer) and layer.fields().indexOf('heading') >= 0:
            layer.setRenderer(QgsSingleSymbolRenderer(view_direction_symbol()))
            layer.triggerRepaint()

class LocatePhotos(TransGeoAlgorithm):
    PHOTO_FOLDER = 'PHOTO_FOLDER'
    PHOTOS = 'PHOTOS'
    DATABASE = 'DATABASE'
    K = 'K'
    NEAR = 'NEAR'
    RADIUS = 'RADIUS'
    MODEL = 'MODEL'
    THREADS = 'THREADS'
    RESUME = 'RESUME'
    OUTPUT = 'OUTPUT'
    POINTS = 'POINTS'
    TILES = 'TILES'
    FAILURES = 'FAILURES'
    LOCATED = 'LOCATED'
    FAILED = 'FAILED'

    def name(self):
        return 'locatephotos'

    def displayName(self):  # noqa: N802
        return self.tr('Locate photos')

    def tags(self):
        return self.tr('transgeo,locate,geolocate,georeference,photos,ground,panorama,gps').split(',')

    def shortHelpString(self):  # noqa: N802
        return self.tr(
            'Finds where ground photos were taken by matching them against the aerial tiles of a '
            'TransGeo database (runs <code>transgeo locate</code>).\n\n'
            'Give a photo folder, photo files, or both. The result is a GeoPackage with one point '
            'per located photo (file, lon, lat, score, error_m, tile_id and, for photos with GPS, '
            'the distance between GPS and estimate) and the footprints of the matched tiles; photos '
            'that could not be read are listed in a failures table instead of stopping the batch.\n\n'
            '<b>Candidates (k)</b>: how many best tiles are kept per photo (the error radius comes '
            'from their spread).\n'
            '<b>Near point / search radius</b>: a rough known position; only tiles within the '
            'radius (metres) of it are candidates. Give both or neither.\n'
            '<b>Model</b>: the name of a model registered in the database; empty uses the only one.\n'
            '<b>Continue an earlier run</b>: keep an existing output GeoPackage and locate only the '
            'photos not in it yet (otherwise the output is replaced).')

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterFile(
            self.PHOTO_FOLDER, self.tr('Photo folder'), behavior=QgsProcessingParameterFile.Folder,
            optional=True))
        self.addParameter(QgsProcessingParameterMultipleLayers(
            self.PHOTOS, self.tr('Photo files'), QgsProcessing.TypeFile, optional=True))
        self.addParameter(QgsProcessingParameterFile(
            self.DATABASE, self.tr('Database'),
            fileFilter=self.tr('TransGeo database (*.sqlite *.db *.SQLITE *.DB);;All files (*)')))
        self.addParameter(QgsProcessingParameterNumber(
            self.K, self.tr('Candidates per photo (k)'), QgsProcessingParameterNumber.Integer,
            5, minValue=1))
        self.addParameter(QgsProcessingParameterPoint(
            self.NEAR, self.tr('Near point (rough position)'), optional=True))
        self.addParameter(QgsProcessingParameterNumber(
            self.RADIUS, self.tr('Search radius around the near point [m]'),
            QgsProcessingParameterNumber.Double, optional=True, minValue=0.0))
        advanced = [
            QgsProcessingParameterString(
                self.MODEL, self.tr('Model (name registered in the database)'), optional=True),
            QgsProcessingParameterNumber(
                self.THREADS, self.tr('Threads (0: all cores)'), QgsProcessingParameterNumber.Integer,
                0, minValue=0),
            QgsProcessingParameterBoolean(
                self.RESUME, self.tr('Continue an earlier run into the same GeoPackage'), False),
        ]
        for p in advanced:
            p.setFlags(p.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
            self.addParameter(p)
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT, self.tr('Located photos (GeoPackage)'), self.tr('GeoPackage (*.gpkg *.GPKG)')))
        self.addOutput(QgsProcessingOutputVectorLayer(
            self.POINTS, self.tr('Located photos'), QgsProcessing.TypeVectorPoint))
        self.addOutput(QgsProcessingOutputVectorLayer(
            self.TILES, self.tr('Matched tiles'), QgsProcessing.TypeVectorPolygon))
        self.addOutput(QgsProcessingOutputVectorLayer(
            self.FAILURES, self.tr('Photos not located'), QgsProcessing.TypeVector))
        self.addOutput(QgsProcessingOutputNumber(self.LOCATED, self.tr('Number of photos located')))
        self.addOutput(QgsProcessingOutputNumber(self.FAILED, self.tr('Number of photos not located')))

    def photo_files(self, parameters, context):
        # parameterAsFileList gives [''] when the parameter is unset.
        return [f for f in self.parameterAsFileList(parameters, self.PHOTOS, context) if f]

    def checkParameterValues(self, parameters, context):  # noqa: N802
        folder = self.parameterAsFile(parameters, self.PHOTO_FOLDER, context)
        files = self.photo_files(parameters, context)
        if not folder and not files:
            return False, self.tr('Choose a photo folder or photo files to locate.')
        has_near = parameters.get(self.NEAR) not in (None, '')
        has_radius = parameters.get(self.RADIUS) not in (None, '')
        if has_near != has_radius:
            return False, self.tr('Give both a near point and a search radius, or neither.')
        return super().checkParameterValues(parameters, context)

    def process(self, parameters, context, feedback):
        folder = self.parameterAsFile(parameters, self.PHOTO_FOLDER, context)
        files = self.photo_files(parameters, context)
        db = self.parameterAsFile(parameters, self.DATABASE, context)
        out = self.parameterAsFileOutput(parameters, self.OUTPUT, context)
        args = ['locate'] + ([folder] if folder else []) + list(files)
        args += ['--db', db, '-k', str(self.parameterAsInt(parameters, self.K, context))]
        if parameters.get(self.NEAR) not in (None, ''):
            wgs84 = QgsCoordinateReferenceSystem('EPSG:4326')
            near = self.parameterAsPoint(parameters, self.NEAR, context, wgs84)
            radius = self.parameterAsDouble(parameters, self.RADIUS, context)
            args += ['--near', '{:.8f},{:.8f}'.format(near.x(), near.y()), '--radius', repr(radius)]
        model = self.parameterAsString(parameters, self.MODEL, context).strip()
        if model:
            args += ['--model', model]
        threads = self.parameterAsInt(parameters, self.THREADS, context)
        if threads > 0:
            args += ['--threads', str(threads)]
        if not self.parameterAsBoolean(parameters, self.RESUME, context):
            remove_geopackage(out, feedback)
        args += ['-o', out]
        self.run_transgeo(args, feedback)

        layers = gpkg_layers(out)
        if 'points' not in layers:
            raise QgsProcessingException(self.tr(
                "transgeo locate wrote no point layer to '{}'").format(out))
        results = {self.OUTPUT: out}
        counts = {}
        for key, output, title in (('points', self.POINTS, self.tr('Located photos')),
                                   ('tiles', self.TILES, self.tr('Matched tiles')),
                                   ('failures', self.FAILURES, self.tr('Photos not located'))):
            if key not in layers:
                continue
            uri = layers[key].uri()
            counts[key] = QgsVectorLayer(uri, title, 'ogr').featureCount()
            results[output] = uri
            if key != 'failures' or counts[key] > 0:
                details = QgsProcessingContext.LayerDetails(title, context.project(), output)
                if key == 'points':
                    details.setPostProcessor(view_direction_style())
                context.addLayerToLoadOnCompletion(uri, details)
        results[self.LOCATED] = counts.get('points', 0)
        results[self.FAILED] = counts.get('failures', 0)
        feedback.pushInfo(self.tr('{} photo(s) located, {} not located').format(
            results[self.LOCATED], results[self.FAILED]))
        return results
