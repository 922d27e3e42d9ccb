"""Index raster: `transgeo index RASTER... --db DB [--model M] [--tile-m] [--stride-m] [--threads]`."""
from qgis.core import (QgsProcessing, QgsProcessingException, QgsProcessingParameterDefinition,
                       QgsProcessingParameterFile, QgsProcessingParameterFileDestination,
                       QgsProcessingParameterMultipleLayers, QgsProcessingParameterNumber,
                       QgsProviderRegistry)

from .base import TransGeoAlgorithm


class IndexRaster(TransGeoAlgorithm):
    INPUT = 'INPUT'
    DATABASE = 'DATABASE'
    MODEL = 'MODEL'
    TILE_M = 'TILE_M'
    STRIDE_M = 'STRIDE_M'
    THREADS = 'THREADS'

    def name(self):
        return 'indexraster'

    def displayName(self):  # noqa: N802
        return self.tr('Index raster')

    def tags(self):
        return self.tr('transgeo,index,tiles,embedding,aerial,orthophoto,satellite,database').split(',')

    def shortHelpString(self):  # noqa: N802
        return self.tr(
            'Cuts aerial rasters into north-up tiles at the model\'s ground resolution, embeds each '
            'tile with the TransGeo aerial encoder and stores footprints and embeddings in a '
            'SpatiaLite database (runs <code>transgeo index</code>).\n\n'
            'An existing database is extended; an interrupted or cancelled run is resumed by '
            'running it again with the same inputs.\n\n'
            '<b>Model file</b>: a converted TransGeo checkpoint (.safetensors); empty uses the '
            'model built into transgeo.\n'
            '<b>Tile size / stride</b> (metres): empty uses the model\'s tile size and half of it.\n'
            '<b>Threads</b>: 0 uses every core.')

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterMultipleLayers(
            self.INPUT, self.tr('Aerial rasters'), QgsProcessing.TypeRaster))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.DATABASE, self.tr('Database'),
            self.tr('TransGeo database (*.sqlite *.db *.SQLITE *.DB)')))
        self.addParameter(QgsProcessingParameterFile(
            self.MODEL, self.tr('Model file'), extension='safetensors', optional=True))
        for name, label in ((self.TILE_M, self.tr('Tile size [m]')),
                            (self.STRIDE_M, self.tr('Tile stride [m]'))):
            p = QgsProcessingParameterNumber(name, label, QgsProcessingParameterNumber.Double,
                                             optional=True, minValue=0.01)
            p.setFlags(p.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
            self.addParameter(p)
        p = QgsProcessingParameterNumber(self.THREADS, self.tr('Threads (0: all cores)'),
                                         QgsProcessingParameterNumber.Integer, 0, minValue=0)
        p.setFlags(p.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
        self.addParameter(p)

    @staticmethod
    def raster_path(layer):
        """What to hand GDAL for a raster layer: its file, or its GDAL source string."""
        if layer.providerType() != 'gdal':
            raise QgsProcessingException(
                "raster layer '{}' comes from the '{}' provider; transgeo reads rasters GDAL can "
                "open (files, /vsi paths): export it to a GeoTIFF first".format(
                    layer.name(), layer.providerType()))
        parts = QgsProviderRegistry.instance().decodeUri('gdal', layer.source())
        if parts.get('path') and not parts.get('layerName'):
            return parts['path']
        return layer.source()

    def process(self, parameters, context, feedback):
        layers = self.parameterAsLayerList(parameters, self.INPUT, context)
        if not layers:
            raise QgsProcessingException(self.tr('no raster to index: choose at least one raster'))
        db = self.parameterAsFileOutput(parameters, self.DATABASE, context)
        args = ['index'] + [self.raster_path(layer) for layer in layers] + ['--db', db]
        model = self.parameterAsFile(parameters, self.MODEL, context)
        if model:
            args += ['--model', model]
        for name, opt in ((self.TILE_M, '--tile-m'), (self.STRIDE_M, '--stride-m')):
            if parameters.get(name) not in (None, ''):
                args += [opt, repr(self.parameterAsDouble(parameters, name, context))]
        threads = self.parameterAsInt(parameters, self.THREADS, context)
        if threads > 0:
            args += ['--threads', str(threads)]
        self.run_transgeo(args, feedback)
        return {self.DATABASE: db}
