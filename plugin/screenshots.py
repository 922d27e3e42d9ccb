#!/usr/bin/python3
"""Make the QGIS screenshots of docs/qgis.md (run under Xvfb: `make plugin-screenshots`).

    xvfb-run -a -s '-screen 0 1280x1024x24' python3 plugin/screenshots.py \\
        --cli build/transgeo --model tests/golden/tiny/model.safetensors \\
        --data ../shared/data --out docs/images

Runs the plugin for real in a QGIS application with a (virtual) display:
indexes the raster with "Index raster", locates the photos with "Locate
photos", scores one photo with "Similarity heat map", then saves
  qgis-toolbox.png        the Processing toolbox with the TransGeo provider
  qgis-locate-dialog.png  the "Locate photos" dialog, filled in
  qgis-heat-map.png       the result layers over the raster: a one-page print
                          layout (title, map, legend) exported to PNG
Everything it writes besides the PNGs goes to --work (a temporary folder).
"""
import argparse
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--cli', required=True, help='the transgeo executable')
    ap.add_argument('--model', help='model file for Index raster (default: transgeo\'s own)')
    ap.add_argument('--data', default=os.path.join(HERE, '..', '..', 'shared', 'data'),
                    help='the shared test data folder (rasters/, photos/)')
    ap.add_argument('--raster', help='raster to index (default: DATA/rasters/m_4709963_se_14_1_20180716.tif)')
    ap.add_argument('--photos', help='photo folder (default: DATA/photos)')
    ap.add_argument('--photo', help='photo for the heat map (default: the first located one)')
    ap.add_argument('--tile-m', type=float, default=300.0)
    ap.add_argument('--stride-m', type=float, default=150.0)
    ap.add_argument('--title', default='Similarity heat map of {photo} over {raster}',
                    help='map title ({photo}, {raster} are replaced)')
    ap.add_argument('--out', required=True, help='folder for the PNGs')
    ap.add_argument('--work', help='scratch folder (default: a temporary one, removed)')
    return ap.parse_args()


def main():
    args = parse_args()
    raster = args.raster or os.path.join(args.data, 'rasters', 'm_4709963_se_14_1_20180716.tif')
    photos = args.photos or os.path.join(args.data, 'photos')
    work = args.work or tempfile.mkdtemp(prefix='tg-shots-')
    os.makedirs(args.out, exist_ok=True)
    for sub in ('home', 'runtime', 'profile'):
        os.makedirs(os.path.join(work, sub), mode=0o700, exist_ok=True)
    # QGIS writes settings and caches under HOME: keep them in the scratch folder.
    os.environ['HOME'] = os.path.join(work, 'home')
    os.environ['XDG_RUNTIME_DIR'] = os.path.join(work, 'runtime')

    from qgis.core import (QgsApplication, QgsFillSymbol, QgsLayoutExporter, QgsLayoutItemLabel,
                           QgsLayoutItemLegend, QgsLayoutItemMap, QgsLayoutPoint, QgsLayoutSize,
                           QgsMarkerSymbol, QgsPrintLayout, QgsRectangle,
                           QgsProcessingOutputLayerDefinition, QgsProject, QgsUnitTypes,
                           QgsRasterLayer, QgsSingleSymbolRenderer,
                           QgsVectorLayer)
    from qgis.PyQt.QtCore import QSize
    from qgis.PyQt.QtGui import QFont

    app = QgsApplication([], True, os.path.join(work, 'profile'))
    app.initQgis()
    sys.path.append('/usr/share/qgis/python/plugins')
    sys.path.insert(0, HERE)
    from processing.core.Processing import Processing
    from processing.core.ProcessingConfig import ProcessingConfig
    Processing.initialize()
    import processing
    from transgeo import settings
    from transgeo.provider import TransGeoProvider
    provider = TransGeoProvider()
    QgsApplication.processingRegistry().addProvider(provider)
    ProcessingConfig.setSettingValue(settings.CLI_SETTING, os.path.abspath(args.cli))

    db = os.path.join(work, 'imagery.sqlite')
    gpkg = os.path.join(work, 'located.gpkg')
    heat = os.path.join(work, 'heat_map.gpkg')
    index_params = {'INPUT': [raster], 'DATABASE': db, 'TILE_M': args.tile_m, 'STRIDE_M': args.stride_m}
    if args.model:
        index_params['MODEL'] = args.model
    processing.run('transgeo:indexraster', index_params)
    located = processing.run('transgeo:locatephotos', {
        'PHOTO_FOLDER': photos, 'DATABASE': db, 'K': 5, 'OUTPUT': gpkg})
    points = QgsVectorLayer(located['POINTS'], 'Located photos', 'ogr')
    photo = args.photo or str(next(points.getFeatures())['file'])
    processing.run('transgeo:similarityheatmap', {
        'PHOTO': photo, 'DATABASE': db,
        'OUTPUT': QgsProcessingOutputLayerDefinition(heat, QgsProject.instance())})

    # 1. The toolbox, filtered to the provider.
    from qgis.gui import QgsProcessingToolboxTreeView, QgsProcessingToolboxProxyModel
    tree = QgsProcessingToolboxTreeView(None, QgsApplication.processingRegistry())
    tree.setFilterString('transgeo')
    tree.setFilters(QgsProcessingToolboxProxyModel.FilterToolbox)
    tree.expandAll()
    tree.setHeaderHidden(True)
    tree.clearSelection()
    tree.resize(300, 84)
    tree.setWindowTitle('Processing Toolbox')
    tree.show()
    for _ in range(20):
        app.processEvents()
    tree.grab().save(os.path.join(args.out, 'qgis-toolbox.png'))

    # 2. The Locate photos dialog, filled in as for the run above.
    from processing.gui.AlgorithmDialog import AlgorithmDialog
    alg = QgsApplication.processingRegistry().createAlgorithmById('transgeo:locatephotos')
    dlg = AlgorithmDialog(alg)
    dlg.setParameters({'PHOTO_FOLDER': '/data/survey/photos', 'DATABASE': '/data/survey/imagery.sqlite',
                       'K': 5, 'NEAR': '-99.1548,47.0204 [EPSG:4326]', 'RADIUS': 2000,
                       'OUTPUT': '/data/survey/located.gpkg'})
    dlg.resize(980, 700)
    dlg.show()
    for _ in range(30):
        app.processEvents()
    dlg.grab().save(os.path.join(args.out, 'qgis-locate-dialog.png'))

    # 3. The result layers over the raster.
    project = QgsProject.instance()
    base = QgsRasterLayer(raster, 'aerial imagery')
    heat_layer = QgsVectorLayer(heat, 'Similarity (score)', 'ogr')
    from transgeo.algorithms.heat_map import score_style
    score_style().postProcessLayer(heat_layer, None, None)
    heat_layer.setOpacity(0.6)
    tiles = QgsVectorLayer(located['TILES'], 'Matched tiles (k = 5)', 'ogr')
    tiles.setRenderer(QgsSingleSymbolRenderer(QgsFillSymbol.createSimple(
        {'color': '0,0,0,0', 'outline_color': '#f08a24', 'outline_width': '0.6'})))
    best = QgsVectorLayer(located['POINTS'], 'Located photo', 'ogr')
    only_photo = "file = '{}'".format(photo.replace("'", "''"))
    best.setSubsetString(only_photo)
    tiles.setSubsetString(only_photo)
    best.setRenderer(QgsSingleSymbolRenderer(QgsMarkerSymbol.createSimple(
        {'name': 'star', 'color': '#d9482b', 'outline_color': 'white', 'size': '6'})))
    for lyr in (base, heat_layer, tiles, best):
        if not lyr.isValid():
            raise SystemExit("screenshots.py: layer '{}' is not valid".format(lyr.name()))
        project.addMapLayer(lyr)

    # A one-page layout: title, map, legend (the score classes explain the colours).
    layout = QgsPrintLayout(project)
    layout.initializeDefaults()
    layout.pageCollection().page(0).setPageSize(QgsLayoutSize(250, 160, QgsUnitTypes.LayoutMillimeters))
    title = QgsLayoutItemLabel(layout)
    title.setText(args.title.format(photo=os.path.basename(photo), raster=os.path.basename(raster)))
    title.setFont(QFont('DejaVu Sans', 13))  # QGIS 3.22 API (setTextFormat is 3.24+)
    title.attemptMove(QgsLayoutPoint(6, 4, QgsUnitTypes.LayoutMillimeters))
    title.attemptResize(QgsLayoutSize(238, 9, QgsUnitTypes.LayoutMillimeters))
    layout.addLayoutItem(title)
    map_item = QgsLayoutItemMap(layout)
    layout.addLayoutItem(map_item)  # before sizing: a map item outside a layout has no size
    map_item.attemptMove(QgsLayoutPoint(6, 15, QgsUnitTypes.LayoutMillimeters))
    map_item.attemptResize(QgsLayoutSize(180, 144, QgsUnitTypes.LayoutMillimeters))
    map_item.setCrs(base.crs())
    map_item.setLayers([best, tiles, heat_layer, base])
    map_item.setFrameEnabled(True)
    map_item.setExtent(QgsRectangle(base.extent()))
    legend = QgsLayoutItemLegend(layout)
    legend.setTitle('Legend')
    legend.setLinkedMap(map_item)
    legend.setAutoUpdateModel(False)
    legend.model().rootGroup().removeLayer(base)
    legend.attemptMove(QgsLayoutPoint(190, 15, QgsUnitTypes.LayoutMillimeters))
    layout.addLayoutItem(legend)
    # renderPageToImage, not exportToImage: no georeferencing (PNG cannot hold it).
    image = QgsLayoutExporter(layout).renderPageToImage(0, QSize(), 100)
    if image.isNull() or not image.save(os.path.join(args.out, 'qgis-heat-map.png')):
        raise SystemExit('screenshots.py: could not render or save the heat map layout')

    for name in ('qgis-toolbox.png', 'qgis-locate-dialog.png', 'qgis-heat-map.png'):
        print(os.path.join(args.out, name))
    dlg.close()
    tree.close()
    project.removeAllMapLayers()
    QgsApplication.processingRegistry().removeProvider(provider)
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()
