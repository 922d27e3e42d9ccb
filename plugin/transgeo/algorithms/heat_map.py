"""Similarity heat map: every indexed tile with its score for one photo.

Runs the SQL extension's table-valued function in Python's sqlite3:

    SELECT rank, tile_id, score, lon, lat, error_m, AsBinary(geom)
      FROM tg_matches(:photo, :k);

after loading mod_spatialite and mod_transgeo, with k = the number of tiles in
the database (or the limit the user gave). The scores are the extension's; the
plugin only copies its rows into a polygon layer (tile footprints, EPSG:4326)
and styles it by score.
"""
import os
import sqlite3

from qgis.core import (QgsClassificationQuantile, QgsCoordinateReferenceSystem, QgsFeature,
                       QgsFeatureRequest, QgsFeatureSink, QgsField, QgsFields, QgsGeometry,
                       QgsGradientColorRamp, QgsGraduatedSymbolRenderer,
                       QgsProcessingException, QgsProcessingLayerPostProcessorInterface,
                       QgsProcessingParameterFeatureSink, QgsProcessingParameterFile,
                       QgsProcessingParameterNumber, QgsProcessing, QgsStyle, QgsSymbol,
                       QgsWkbTypes)
from qgis.PyQt.QtCore import Qt, QVariant
from qgis.PyQt.QtGui import QColor

from .. import settings
from .base import Canceled, TransGeoAlgorithm

MATCH_SQL = ('SELECT rank, tile_id, score, lon, lat, error_m, AsBinary(geom) '
             'FROM tg_matches(?, ?)')
COUNT_SQL = 'SELECT count(*) FROM tg_tiles'
# tg_matches holds its k rows in memory and accepts k up to this (sql/sql_matches.c).
MAX_K = 100000


def open_database(db_path):
    """A sqlite3 connection to an existing db_path, or QgsProcessingException."""
    if not os.path.isfile(db_path):
        raise QgsProcessingException("database '{}' does not exist".format(db_path))
    try:
        return sqlite3.connect(db_path)
    except sqlite3.Error as e:
        raise QgsProcessingException("database '{}': {}".format(db_path, e))


def load_extensions(con, extension):
    """Load mod_spatialite, then mod_transgeo (path or name), into con.

    Raises QgsProcessingException naming the extension that failed and what to do.
    """
    if not hasattr(con, 'enable_load_extension'):
        raise QgsProcessingException(
            "this Python's sqlite3 module cannot load extensions; the heat map needs "
            "mod_spatialite and mod_transgeo")
    con.enable_load_extension(True)
    try:
        for ext, hint in (('mod_spatialite', 'install SpatiaLite (libsqlite3-mod-spatialite)'),
                          (extension, 'set its path in Settings > Options > Processing > '
                                      'Providers > TransGeo')):
            try:
                con.load_extension(ext)
            except sqlite3.Error as e:
                raise QgsProcessingException(
                    "cannot load SQLite extension '{}': {}; {}".format(ext, e, hint))
    finally:
        con.enable_load_extension(False)


class ScoreStyle(QgsProcessingLayerPostProcessorInterface):
    """Graduated fill by score (quantiles), best tiles drawn on top."""

    def postProcessLayer(self, layer, context, feedback):  # noqa: N802 (QGIS's name)
        ramp = QgsStyle.defaultStyle().colorRamp('Viridis') or \
            QgsGradientColorRamp(QColor('#2c7bb6'), QColor('#d7191c'))
        symbol = QgsSymbol.defaultSymbol(QgsWkbTypes.PolygonGeometry)
        symbol.setOpacity(0.75)
        symbol.symbolLayer(0).setStrokeStyle(Qt.NoPen)
        renderer = QgsGraduatedSymbolRenderer('score')
        renderer.setSourceSymbol(symbol)
        renderer.setClassificationMethod(QgsClassificationQuantile())
        renderer.updateClasses(layer, 7)
        renderer.updateColorRamp(ramp)
        renderer.setOrderBy(QgsFeatureRequest.OrderBy([QgsFeatureRequest.OrderByClause('score', True)]))
        renderer.setOrderByEnabled(True)
        layer.setRenderer(renderer)
        layer.triggerRepaint()


_SCORE_STYLE = []


def score_style():
    """The one ScoreStyle instance: QGIS keeps only a C++ pointer to a post-processor,
    so the Python object must outlive the algorithm that hands it over."""
    if not _SCORE_STYLE:
        _SCORE_STYLE.append(ScoreStyle())
    return _SCORE_STYLE[0]


class SimilarityHeatMap(TransGeoAlgorithm):
    PHOTO = 'PHOTO'
    DATABASE = 'DATABASE'
    MAX_TILES = 'MAX_TILES'
    OUTPUT = 'OUTPUT'

    def name(self):
        return 'similarityheatmap'

    def displayName(self):  # noqa: N802
        return self.tr('Similarity heat map')

    def tags(self):
        return self.tr('transgeo,similarity,score,heat map,photo,tiles,candidates').split(',')

    def shortHelpString(self):  # noqa: N802
        return self.tr(
            'Scores every tile of a TransGeo database against one ground photo: a polygon layer of '
            'the tile footprints with rank, tile_id, score (cosine similarity of the embeddings), '
            'centre lon/lat and error_m, styled by score. Where the photo was taken, the scores '
            'are high; the spread of high scores shows how ambiguous the scene is.\n\n'
            'Uses the mod_transgeo SQLite extension (<code>tg_matches(photo, k)</code>); set its '
            'path in the provider settings if it is not found next to the transgeo executable.\n'
            '<b>Tiles</b>: 0 returns all tiles, N the N best.')

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterFile(self.PHOTO, self.tr('Photo')))
        self.addParameter(QgsProcessingParameterFile(
            self.DATABASE, self.tr('Database'),
            fileFilter=self.tr('TransGeo database (*.sqlite *.db *.SQLITE *.DB);;All files (*)')))
        self.addParameter(QgsProcessingParameterNumber(
            self.MAX_TILES, self.tr('Tiles (0: all)'), QgsProcessingParameterNumber.Integer,
            0, minValue=0))
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.OUTPUT, self.tr('Similarity heat map'), QgsProcessing.TypeVectorPolygon))

    @staticmethod
    def fields():
        fields = QgsFields()
        fields.append(QgsField('rank', QVariant.Int))
        fields.append(QgsField('tile_id', QVariant.LongLong))
        fields.append(QgsField('score', QVariant.Double))
        fields.append(QgsField('lon', QVariant.Double))
        fields.append(QgsField('lat', QVariant.Double))
        fields.append(QgsField('error_m', QVariant.Double))
        return fields

    def process(self, parameters, context, feedback):
        photo = self.parameterAsFile(parameters, self.PHOTO, context)
        db = self.parameterAsFile(parameters, self.DATABASE, context)
        limit = self.parameterAsInt(parameters, self.MAX_TILES, context)
        extension = settings.resolve_extension()
        feedback.pushInfo(self.tr("SQL extension: {}").format(extension))
        con = open_database(db)
        try:
            try:
                n_tiles = con.execute(COUNT_SQL).fetchone()[0]
            except sqlite3.Error as e:
                raise QgsProcessingException(
                    "database '{}' is not a TransGeo database ({}): build it with "
                    "'Index raster' first".format(db, e))
            k = min(limit, n_tiles) if limit > 0 else n_tiles
            if k > MAX_K:
                feedback.pushWarning(self.tr('{} tiles: keeping the {} best').format(k, MAX_K))
                k = MAX_K
            if k == 0:
                raise QgsProcessingException("database '{}' holds no tiles: index a raster "
                                             "into it with 'Index raster' first".format(db))
            load_extensions(con, extension)
            # Lets a cancel interrupt the query between SQLite steps.
            con.set_progress_handler(lambda: 1 if feedback.isCanceled() else 0, 1000)
            feedback.pushCommandInfo('{}  -- photo={!r}, k={}'.format(MATCH_SQL, photo, k))
            try:
                rows = con.execute(MATCH_SQL, (photo, k)).fetchall()
            except sqlite3.Error as e:
                if feedback.isCanceled():
                    raise Canceled()
                raise QgsProcessingException(str(e))
        finally:
            con.close()

        sink, dest_id = self.parameterAsSink(
            parameters, self.OUTPUT, context, self.fields(), QgsWkbTypes.Polygon,
            QgsCoordinateReferenceSystem('EPSG:4326'))
        if sink is None:
            raise QgsProcessingException(self.invalidSinkError(parameters, self.OUTPUT))
        for i, (rank, tile_id, score, lon, lat, error_m, wkb) in enumerate(rows):
            if feedback.isCanceled():
                return {}
            f = QgsFeature(self.fields())
            if wkb is not None:
                g = QgsGeometry()
                g.fromWkb(bytes(wkb))
                f.setGeometry(g)
            f.setAttributes([rank, tile_id, score, lon, lat, error_m])
            sink.addFeature(f, QgsFeatureSink.FastInsert)
            feedback.setProgress(100.0 * (i + 1) / len(rows))
        feedback.pushInfo(self.tr('{} tile(s) scored').format(len(rows)))

        if context.willLoadLayerOnCompletion(dest_id):
            context.layerToLoadOnCompletionDetails(dest_id).setPostProcessor(score_style())
        return {self.OUTPUT: dest_id}
