#!/usr/bin/python3
"""tests/plugin_test.py - the QGIS Processing provider (plugin/transgeo), headless.

Runs in `make check` (tests/runner.sh, Debian's python3) with QGIS's Python
bindings (python3-qgis, qgis-providers) and QT_QPA_PLATFORM=offscreen: loads
the plugin, checks the provider, its algorithms and their parameters, then runs
each algorithm for real on a small fixture made here: the NAIP raster of the
shared test data indexed with the tiny test model (tests/golden/tiny), and the
shared photos. The CLI is $TOP_BUILDDIR/transgeo; the heat map's SQL extension
is found next to it (.libs/mod_transgeo.so), as the provider does by default.

Cancellation and progress use a stand-in executable (a shell script written
here) so that they are deterministic; CLI errors use the real CLI and must
arrive as QgsProcessingException carrying the CLI's own stderr message.

Prints TAP ("ok N - ..."). Without QGIS it prints one skipped test; with
python3-qgis (or python3-qgis-common) installed, a failed import of qgis.core
(or processing) is a failure.
"""
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest
import zipfile

TOP_SRCDIR = os.environ.get('TOP_SRCDIR') or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOP_BUILDDIR = os.environ.get('TOP_BUILDDIR') or os.getcwd()
SHARED = os.environ.get('TG_SHARED_DATA') or os.path.join(TOP_SRCDIR, '..', 'shared', 'data')
TMP_ROOT = os.environ.get('TG_TMPDIR') or tempfile.gettempdir()
TMP = os.path.join(TMP_ROOT, 'plugin')
PLUGIN_DIR = os.path.join(TOP_SRCDIR, 'plugin')
CLI = os.path.join(TOP_BUILDDIR, 'transgeo')
MODEL = os.path.join(TOP_SRCDIR, 'tests', 'golden', 'tiny', 'model.safetensors')
RASTER = os.path.join(SHARED, 'rasters', 'm_4709963_se_14_1_20180716.tif')
# The raster's WGS84 bounding box (PROVENANCE.md, gdalinfo wgs84Extent).
RASTER_LON = (-99.1855644, -99.1240204)
RASTER_LAT = (47.0040243, 47.0366826)
PHOTOS = [os.path.join(SHARED, 'photos', n) for n in ('01.jpg', '02.jpg', '03.jpg')]
# Tiles of 800 m on the 4.7 x 3.6 km raster: a few dozen tiles at most.
TILE_M = 800.0
STRIDE_M = 800.0


def preload_sanitizers():
    """Sanitizer builds: re-run this test with the ASan/UBSan runtimes preloaded.

    mod_transgeo.so (loaded into this process by the heat map) is then built
    with -fsanitize=address, whose runtime must come first in the process; the
    SQL tests do the same for the sqlite3 shell (tests/sql_lib.sh). Leak
    checking is off here: Python and QGIS keep memory until exit.
    """
    flags = os.environ.get('SANITIZERS', '')
    if 'address' not in flags or os.environ.get('TG_PLUGIN_TEST_PRELOADED'):
        return
    cc = os.environ.get('CC', 'cc')
    libs = []
    for lib, needed in (('libasan.so', True), ('libubsan.so', 'undefined' in flags)):
        if needed:
            path = subprocess.run([cc, '-print-file-name=' + lib], stdout=subprocess.PIPE,
                                  universal_newlines=True).stdout.strip()
            if os.path.isabs(path):
                libs.append(path)
    env = dict(os.environ, TG_PLUGIN_TEST_PRELOADED='1',
               LD_PRELOAD=' '.join(libs + [os.environ.get('LD_PRELOAD', '')]).strip(),
               ASAN_OPTIONS='detect_leaks=0:abort_on_error=1:verify_asan_link_order=0')
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable] + sys.argv, env)


preload_sanitizers()


def deb_installed(package):
    """True when dpkg lists PACKAGE as installed (False without dpkg)."""
    try:
        r = subprocess.run(['dpkg-query', '-W', '-f=${Status}', package], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, universal_newlines=True)
    except OSError:
        return False
    return r.returncode == 0 and 'install ok installed' in r.stdout


def tap_plan_skip(package, what, error):
    """A failed import: a skip only when PACKAGE is not installed.

    With the package installed, the import must work (a broken QGIS install
    would otherwise turn every plugin check into one quiet skip)."""
    if deb_installed(package):
        print('not ok 1 - import {}: {} is installed but the import failed: {}'.format(what, package, error))
        print('1..1')
        sys.exit(1)
    print('ok 1 - QGIS Processing provider # SKIP {} not installed (Debian package {}): {}'.format(
        what, package, error))
    print('1..1')
    sys.exit(0)


# Keep the source tree clean (no __pycache__ in plugin/), also in child Pythons.
sys.dont_write_bytecode = True
os.environ['PYTHONDONTWRITEBYTECODE'] = '1'
# Isolate QGIS: its settings, profile and runtime files go under TMP, never $HOME.
shutil.rmtree(TMP, ignore_errors=True)
os.makedirs(TMP)
for sub in ('home', 'runtime', 'profile'):
    os.makedirs(os.path.join(TMP, sub), mode=0o700)
os.environ['HOME'] = os.path.join(TMP, 'home')
os.environ['XDG_RUNTIME_DIR'] = os.path.join(TMP, 'runtime')
os.environ['QT_QPA_PLATFORM'] = 'offscreen'

try:
    from qgis.core import (QgsApplication, QgsCoordinateReferenceSystem, QgsPointXY,
                           QgsProcessingContext, QgsProcessingException, QgsProcessingFeedback,
                           QgsProcessingOutputLayerDefinition, QgsProcessingUtils,
                           QgsProject, QgsSymbolLayer, QgsVectorLayer, QgsWkbTypes,
                           QgsDistanceArea)
except ImportError as e:
    tap_plan_skip('python3-qgis', 'qgis.core', e)

QGIS_PLUGINS = '/usr/share/qgis/python/plugins'
if os.path.isdir(QGIS_PLUGINS) and QGIS_PLUGINS not in sys.path:
    sys.path.append(QGIS_PLUGINS)
sys.path.insert(0, PLUGIN_DIR)

APP = QgsApplication([], False, os.path.join(TMP, 'profile'))
APP.initQgis()
try:
    from processing.core.Processing import Processing
    from processing.core.ProcessingConfig import ProcessingConfig
except ImportError as e:
    tap_plan_skip('python3-qgis-common', 'processing (the QGIS Processing framework)', e)
Processing.initialize()

import transgeo  # noqa: E402 (the plugin package, from plugin/)
from transgeo import cli as tgcli  # noqa: E402
from transgeo import settings as tgsettings  # noqa: E402
from transgeo.provider import TransGeoProvider  # noqa: E402

REGISTRY = QgsApplication.processingRegistry()
WGS84 = QgsCoordinateReferenceSystem('EPSG:4326')


class Feedback(QgsProcessingFeedback):
    """Records what an algorithm reports; cancels itself at the first progress if asked."""

    def __init__(self, cancel_on_progress=False):
        super().__init__()
        self.progress = []
        self.console = []
        self.commands = []
        self.infos = []
        self.cancel_on_progress = cancel_on_progress
        self.progressChanged.connect(self._on_progress)

    def _on_progress(self, value):
        self.progress.append(round(value, 3))
        if self.cancel_on_progress and not self.isCanceled():
            self.cancel()

    def pushConsoleInfo(self, text):  # noqa: N802
        self.console.append(text)
        super().pushConsoleInfo(text)

    def pushCommandInfo(self, text):  # noqa: N802
        self.commands.append(text)
        super().pushCommandInfo(text)

    def pushInfo(self, text):  # noqa: N802
        self.infos.append(text)
        super().pushInfo(text)


def set_cli(path):
    ProcessingConfig.setSettingValue(tgsettings.CLI_SETTING, path)


def run_alg(alg_id, params, feedback=None, context=None):
    """(results, context, feedback); a failure raises QgsProcessingException."""
    alg = REGISTRY.createAlgorithmById(alg_id)
    context = context or QgsProcessingContext()
    context.setProject(QgsProject.instance())
    feedback = feedback or Feedback()
    ok, msg = alg.checkParameterValues(params, context)
    if not ok:
        raise QgsProcessingException(msg)
    results, ok = alg.run(params, context, feedback, {}, False)
    return results, context, feedback


def load_results(alg_id, context):
    """Load the result layers into the project as the toolbox does; the project's layers by name."""
    from processing.gui.Postprocessing import handleAlgorithmResults
    QgsProject.instance().removeAllMapLayers()
    ok = handleAlgorithmResults(REGISTRY.algorithmById(alg_id), context, Feedback())
    return ok, {lyr.name(): lyr for lyr in QgsProject.instance().mapLayers().values()}


def cli_stderr_message(argv):
    """What the CLI itself prints on stderr for argv (hint line dropped), and its status."""
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True)
    lines = [line.strip() for line in p.stderr.replace('\r', '\n').splitlines()]
    lines = [line for line in lines if line and not (line.startswith("Try '") and line.endswith("--help'."))]
    return '\n'.join(lines), p.returncode


def layer_fields(layer):
    return [f.name() for f in layer.fields()]


FAKE_CLI = r'''#!/bin/sh
# Stand-in for transgeo (tests/plugin_test.py): behaviour from $TG_FAKE_MODE.
case "$TG_FAKE_MODE" in
progress)
    # like transgeo index A B --progress=json: two rasters of 4 grid cells each
    case " $* " in *" --progress=json "*) ;; *) echo "transgeo index: stand-in: no --progress=json" >&2; exit 4 ;; esac
    for item in 1 2; do for done in 2 4; do
        printf '{"done":%d,"total":4,"stage":"tiles","item":%d,"items":2,"message":"%d tiles added"}\n' \
            "$done" "$item" "$done" >&2
    done; done
    echo 'transgeo index: note: a message line' >&2
    echo '4 tiles added'
    exit 0 ;;
sleep)
    sleep 120 &
    echo $! > "$TG_FAKE_PIDFILE.child"
    echo $$ > "$TG_FAKE_PIDFILE"
    printf '{"done":1,"total":100,"stage":"tiles","item":1,"items":1,"message":null}\n' >&2
    wait $!
    echo finished > "$TG_FAKE_PIDFILE.done"
    exit 0 ;;
fail)
    echo "transgeo index: raster 'x.tif': not a raster GDAL can open" >&2
    echo "Try 'transgeo index --help'." >&2
    exit 2 ;;
signal)
    kill -9 $$ ;;
esac
exit 3
'''


def fake_cli():
    path = os.path.join(TMP, 'fake-transgeo')
    if not os.path.exists(path):
        with open(path, 'w') as f:
            f.write(FAKE_CLI)
        os.chmod(path, 0o755)
    return path


def pid_gone_within(pid, seconds=10.0):
    """True once pid has ended, polling for up to `seconds` (a signalled
    process on a loaded machine may take a moment to act on SIGTERM)."""
    end = time.time() + seconds
    while pid_alive(pid):
        if time.time() > end:
            return False
        time.sleep(0.05)
    return True


def pid_alive(pid):
    """True while pid runs (a zombie waiting to be reaped counts as ended)."""
    try:
        with open('/proc/{}/stat'.format(pid)) as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


class Fixture:
    """The indexed database, built once by the Index raster algorithm."""
    db = None
    error = None
    feedback = None

    @classmethod
    def database(cls):
        if cls.db is None and cls.error is None:
            missing = [p for p in (CLI, MODEL, RASTER) if not os.path.exists(p)]
            if missing:
                cls.error = 'fixture input missing: ' + ', '.join(missing)
            else:
                set_cli(CLI)
                db = os.path.join(TMP, 'naip.sqlite')
                try:
                    results, _, cls.feedback = run_alg('transgeo:indexraster', {
                        'INPUT': [RASTER], 'DATABASE': db, 'MODEL': MODEL,
                        'TILE_M': TILE_M, 'STRIDE_M': STRIDE_M, 'THREADS': 1})
                    cls.db = results['DATABASE']
                except QgsProcessingException as e:
                    cls.error = 'Index raster failed: {}'.format(e)
        if cls.error:
            raise AssertionError(cls.error)
        return cls.db


def tile_ids(db):
    with sqlite3.connect(db) as con:
        return sorted(r[0] for r in con.execute('SELECT id FROM tg_tiles'))


# ---------------------------------------------------------------------------

class T1Plugin(unittest.TestCase):
    def test_1_metadata(self):
        """metadata.txt: QGIS 3.22+, Processing provider, project version"""
        meta = {}
        with open(os.path.join(PLUGIN_DIR, 'transgeo', 'metadata.txt'), encoding='utf-8') as f:
            for line in f:
                if '=' in line and not line.startswith((';', '#', '[')):
                    k, v = line.split('=', 1)
                    meta[k.strip()] = v.strip()
        self.assertEqual(meta['qgisMinimumVersion'], '3.22')
        self.assertEqual(meta['hasProcessingProvider'], 'yes')
        with open(os.path.join(TOP_SRCDIR, 'configure.ac'), encoding='utf-8') as f:
            ac = f.read()
        self.assertIn('AC_INIT([transgeo], [{}]'.format(meta['version']), ac)
        for key in ('name', 'description', 'about', 'author', 'icon', 'category'):
            self.assertTrue(meta.get(key), key)
        self.assertTrue(os.path.isfile(os.path.join(PLUGIN_DIR, 'transgeo', meta['icon'])))

    def test_2_class_factory(self):
        """classFactory(): initProcessing adds the provider, unload removes it"""
        plugin = transgeo.classFactory(None)
        self.assertIsNone(REGISTRY.providerById('transgeo'))
        plugin.initProcessing()
        self.assertIsNotNone(REGISTRY.providerById('transgeo'))
        plugin.unload()
        self.assertIsNone(REGISTRY.providerById('transgeo'))

    def test_3_zip(self):
        """plugin ZIP: one top folder transgeo/, no caches; QGIS's loader starts and unloads it"""
        out = os.path.join(TMP, 'transgeo-plugin.zip')
        subprocess.check_call([sys.executable, os.path.join(PLUGIN_DIR, 'make_zip.py'),
                               os.path.join(PLUGIN_DIR, 'transgeo'), out,
                               os.path.join(TOP_SRCDIR, 'LICENSE')])
        with zipfile.ZipFile(out) as z:
            names = z.namelist()
            self.assertTrue(all(n.startswith('transgeo/') for n in names), names)
            for need in ('metadata.txt', '__init__.py', 'plugin.py', 'provider.py', 'cli.py',
                         'settings.py', 'LICENSE', 'icons/transgeo.svg', 'algorithms/base.py',
                         'algorithms/index_raster.py', 'algorithms/locate_photos.py',
                         'algorithms/heat_map.py'):
                self.assertIn('transgeo/' + need, names)
            self.assertFalse([n for n in names if '__pycache__' in n or n.endswith('.pyc')])
            dest = os.path.join(TMP, 'zip-install')
            z.extractall(dest)
        # Load the unpacked copy the way QGIS does at start-up (qgis.utils: metadata,
        # classFactory, initProcessing), in a fresh QGIS, then unload it.
        code = ZIP_LOAD_SCRIPT.format(plugins=dest, processing=QGIS_PLUGINS,
                                      profile=os.path.join(TMP, 'profile-zip'))
        p = subprocess.run([sys.executable, '-c', code], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.split(), [
            'metadata', '3.22', 'yes', 'loaded', os.path.join(dest, 'transgeo', '__init__.py'),
            'provider', 'TransGeo', '3', 'unloaded', 'None'])


ZIP_LOAD_SCRIPT = """
import sys
from qgis.core import QgsApplication
app = QgsApplication([], False, {profile!r})
app.initQgis()
sys.path.append({processing!r})
sys.path.insert(0, {plugins!r})
from processing.core.Processing import Processing
Processing.initialize()
import qgis.utils as u
u.plugin_paths = [{plugins!r}]
u.updateAvailablePlugins()
print('metadata', u.pluginMetadata('transgeo', 'qgisMinimumVersion'),
      u.pluginMetadata('transgeo', 'hasProcessingProvider'))
assert u.loadPlugin('transgeo') and u.startProcessingPlugin('transgeo')
print('loaded', sys.modules['transgeo'].__file__)
p = QgsApplication.processingRegistry().providerById('transgeo')
print('provider', p.name(), len(p.algorithms()))
assert u.unloadPlugin('transgeo')
print('unloaded', QgsApplication.processingRegistry().providerById('transgeo'))
"""


EXPECTED_PARAMS = {
    # algorithm id: [(name, type, optional)]
    'transgeo:indexraster': [
        ('INPUT', 'multilayer', False), ('DATABASE', 'fileDestination', False),
        ('MODEL', 'file', True), ('TILE_M', 'number', True), ('STRIDE_M', 'number', True),
        ('THREADS', 'number', False)],
    'transgeo:locatephotos': [
        ('PHOTO_FOLDER', 'file', True), ('PHOTOS', 'multilayer', True), ('DATABASE', 'file', False),
        ('K', 'number', False), ('NEAR', 'point', True), ('RADIUS', 'number', True),
        ('MODEL', 'string', True), ('THREADS', 'number', False), ('RESUME', 'boolean', False),
        ('OUTPUT', 'fileDestination', False)],
    'transgeo:similarityheatmap': [
        ('PHOTO', 'file', False), ('DATABASE', 'file', False), ('MAX_TILES', 'number', False),
        ('OUTPUT', 'sink', False)],
}
EXPECTED_OUTPUTS = {
    'transgeo:indexraster': ['DATABASE'],
    'transgeo:locatephotos': ['OUTPUT', 'POINTS', 'TILES', 'FAILURES', 'LOCATED', 'FAILED'],
    'transgeo:similarityheatmap': ['OUTPUT'],
}


class T2Provider(unittest.TestCase):
    def test_1_provider(self):
        """provider 'transgeo' named TransGeo, with an icon and three algorithms"""
        p = REGISTRY.providerById('transgeo')
        self.assertIsNotNone(p)
        self.assertEqual(p.name(), 'TransGeo')
        self.assertTrue(os.path.isfile(p.svgIconPath()))
        self.assertEqual(sorted(a.id() for a in p.algorithms()), sorted(EXPECTED_PARAMS))
        self.assertEqual(sorted(a.displayName() for a in p.algorithms()),
                         ['Index raster', 'Locate photos', 'Similarity heat map'])

    def test_2_parameters(self):
        """each algorithm's parameters (name, type, optional) and outputs"""
        for alg_id, expected in EXPECTED_PARAMS.items():
            alg = REGISTRY.algorithmById(alg_id)
            got = [(d.name(), d.type(), bool(d.flags() & d.FlagOptional))
                   for d in alg.parameterDefinitions()]
            self.assertEqual(got, expected, alg_id)
            self.assertEqual([o.name() for o in alg.outputDefinitions()], EXPECTED_OUTPUTS[alg_id])
            self.assertTrue(alg.shortHelpString(), alg_id)

    def test_3_cli_setting(self):
        """CLI path setting: default 'transgeo' on PATH; a missing file is refused"""
        self.assertEqual(tgsettings.DEFAULT_CLI, 'transgeo')
        self.assertIn(tgsettings.CLI_SETTING, ProcessingConfig.settings)
        self.assertEqual(ProcessingConfig.settings[tgsettings.CLI_SETTING].default, 'transgeo')
        with self.assertRaises(ValueError) as cm:
            set_cli(os.path.join(TMP, 'no', 'such', 'transgeo'))
        self.assertEqual(str(cm.exception), 'No such file: ' + os.path.join(TMP, 'no', 'such', 'transgeo'))
        set_cli(CLI)
        self.assertEqual(tgsettings.resolve_cli(), CLI)

    def test_4_cli_not_found(self):
        """an executable that cannot be found is a QgsProcessingException that says where to set it"""
        set_cli('transgeo-no-such-program')
        try:
            with self.assertRaises(QgsProcessingException) as cm:
                run_alg('transgeo:indexraster', {'INPUT': [RASTER], 'DATABASE': os.path.join(TMP, 'x.sqlite')})
        finally:
            set_cli(CLI)
        self.assertEqual(str(cm.exception),
                         "transgeo executable 'transgeo-no-such-program' not found: install transgeo or "
                         "set its path in Settings > Options > Processing > Providers > TransGeo")

    def test_5_extension_lookup(self):
        """mod_transgeo is looked for next to the executable (build tree .libs/, ../lib/)"""
        cands = tgsettings.extension_candidates('/opt/tg/bin/transgeo')
        self.assertEqual(cands[0], '/opt/tg/bin/.libs/mod_transgeo.so')
        self.assertIn('/opt/tg/lib/transgeo/mod_transgeo.so', cands)
        self.assertIn('/opt/tg/lib/mod_transgeo.so', cands)
        ProcessingConfig.setSettingValue(tgsettings.EXT_SETTING, '')
        set_cli(CLI)
        built = os.path.join(TOP_BUILDDIR, '.libs', 'mod_transgeo.so')
        self.assertEqual(tgsettings.resolve_extension(), built if os.path.isfile(built) else 'mod_transgeo')


class T3Runner(unittest.TestCase):
    """The CLI runner with a stand-in executable: progress, messages, cancel, errors."""

    def setUp(self):
        set_cli(fake_cli())

    def tearDown(self):
        set_cli(CLI)
        os.environ.pop('TG_FAKE_MODE', None)

    def test_1_progress(self):
        """--progress=json lines become feedback progress (raster 1 of 2 = 0..50 %); other stderr lines are messages"""
        os.environ['TG_FAKE_MODE'] = 'progress'
        fb = Feedback()
        res = tgcli.run_command(tgcli.with_progress([fake_cli(), 'index']), fb)
        self.assertEqual(res.returncode, 0)
        self.assertEqual(fb.progress, [25.0, 50.0, 75.0, 100.0])
        self.assertEqual(res.messages, ['transgeo index: note: a message line'])
        self.assertEqual(res.stdout, '4 tiles added\n')
        self.assertIn('4 tiles added', fb.console)

    def test_2_parse(self):
        """progress parser: JSON progress objects, not messages (nor the human bar)"""
        line = '{"done":%s,"total":%s,"stage":"tiles","item":%d,"items":%d,"message":null}'
        self.assertEqual(tgcli.parse_progress(line % (3, 12, 1, 1)), 25.0)
        self.assertEqual(tgcli.parse_progress(line % (0, 0, 1, 1)), 0.0)
        self.assertEqual(tgcli.parse_progress(line % (1, 2, 2, 2)), 75.0)
        self.assertEqual(tgcli.parse_progress('{"done":5,"total":4,"stage":"photos","message":"a \\"b\\""}'), 100.0)
        self.assertIsNone(tgcli.parse_progress("transgeo locate: photo 'a/b.jpg': 1/2 done"))
        self.assertIsNone(tgcli.parse_progress('[###...] 3/12 tiles  1.5/s  ETA 6s'))
        self.assertIsNone(tgcli.parse_progress('{"done": 3, "total": '))
        self.assertIsNone(tgcli.parse_progress('{"stage":"tiles"}'))
        self.assertEqual(tgcli.with_progress(['t', 'locate', 'a.jpg']), ['t', 'locate', '--progress=json', 'a.jpg'])
        self.assertEqual(tgcli.with_progress(['t', 'info', 'm.safetensors']), ['t', 'info', 'm.safetensors'])

    def test_3_cancel(self):
        """cancelling stops the process group (SIGTERM) and the algorithm returns no result"""
        os.environ['TG_FAKE_MODE'] = 'sleep'
        pidfile = os.path.join(TMP, 'fake.pid')
        os.environ['TG_FAKE_PIDFILE'] = pidfile
        fb = Feedback(cancel_on_progress=True)
        results, _, _ = run_alg('transgeo:indexraster', {
            'INPUT': [RASTER], 'DATABASE': os.path.join(TMP, 'cancel.sqlite')}, fb)
        self.assertEqual(results, {})
        self.assertTrue(fb.isCanceled())
        self.assertEqual(fb.progress[0], 1.0)
        with open(pidfile) as f:
            pid = int(f.read())
        self.assertTrue(pid_gone_within(pid), 'transgeo stand-in still running after cancel')
        with open(pidfile + '.child') as f:
            child = int(f.read())
        self.assertTrue(pid_gone_within(child), "transgeo stand-in's child still running after cancel")
        self.assertFalse(os.path.exists(pidfile + '.done'), 'transgeo stand-in ran to its end')
        self.assertIn('Cancelled: transgeo was stopped.', fb.infos)

    def test_4_error(self):
        """a failing CLI raises QgsProcessingException with its stderr message"""
        os.environ['TG_FAKE_MODE'] = 'fail'
        with self.assertRaises(QgsProcessingException) as cm:
            run_alg('transgeo:indexraster', {'INPUT': [RASTER], 'DATABASE': os.path.join(TMP, 'f.sqlite')})
        self.assertEqual(str(cm.exception), "transgeo index: raster 'x.tif': not a raster GDAL can open")

    def test_5_killed(self):
        """a CLI killed by a signal is reported as such"""
        os.environ['TG_FAKE_MODE'] = 'signal'
        with self.assertRaises(QgsProcessingException) as cm:
            run_alg('transgeo:indexraster', {'INPUT': [RASTER], 'DATABASE': os.path.join(TMP, 'k.sqlite')})
        self.assertEqual(str(cm.exception), 'transgeo was killed by signal 9')

    def test_6_argv(self):
        """Index raster passes an argv list: names with spaces stay one argument"""
        os.environ['TG_FAKE_MODE'] = 'progress'
        spaced = os.path.join(TMP, 'a raster.tif')
        shutil.copy(RASTER, spaced)
        fb = Feedback()
        run_alg('transgeo:indexraster', {'INPUT': [spaced], 'DATABASE': os.path.join(TMP, 'my db.sqlite'),
                                         'TILE_M': 100, 'STRIDE_M': 50.5, 'THREADS': 3}, fb)
        self.assertEqual(fb.commands, [" ".join([
            fake_cli(), 'index', '--progress=json', "'{}'".format(spaced),
            '--db', "'{}'".format(os.path.join(TMP, 'my db.sqlite')), '--tile-m', '100.0', '--stride-m', '50.5', '--threads', '3'])])


class T4Index(unittest.TestCase):
    def test_1_index(self):
        """Index raster builds the database with the tiny model (all tiles in, progress reported)"""
        db = Fixture.database()
        self.assertTrue(os.path.isfile(db))
        ids = tile_ids(db)
        self.assertGreater(len(ids), 0)
        with sqlite3.connect(db) as con:
            complete, n_tiles = con.execute('SELECT complete, n_tiles FROM tg_rasters').fetchone()
        self.assertEqual((complete, n_tiles), (1, len(ids)))
        prog = Fixture.feedback.progress
        self.assertEqual(prog[-1], 100.0)
        self.assertTrue(len(prog) >= 2 and prog == sorted(prog) and 0 <= prog[0] < 100, prog)
        self.assertEqual([c for c in Fixture.feedback.console if c.startswith('{')], [])

    def test_2_rerun(self):
        """Index raster again on the same database: no duplicate tile"""
        db = Fixture.database()
        before = tile_ids(db)
        run_alg('transgeo:indexraster', {'INPUT': [RASTER], 'DATABASE': db, 'MODEL': MODEL,
                                         'TILE_M': TILE_M, 'STRIDE_M': STRIDE_M})
        self.assertEqual(tile_ids(db), before)

    def test_3_cancel_resume(self):
        """cancelling a real Index raster run stops transgeo; a rerun completes the database"""
        Fixture.database()  # the CLI and model are there
        db = os.path.join(TMP, 'cancelled.sqlite')
        params = {'INPUT': [RASTER], 'DATABASE': db, 'MODEL': MODEL, 'TILE_M': 200.0, 'STRIDE_M': 200.0,
                  'THREADS': 1}
        fb = Feedback(cancel_on_progress=True)
        results, _, _ = run_alg('transgeo:indexraster', params, fb)
        self.assertEqual(results, {})
        self.assertIn('Cancelled: transgeo was stopped.', fb.infos)
        results, _, _ = run_alg('transgeo:indexraster', params)
        self.assertEqual(results, {'DATABASE': db})
        with sqlite3.connect(db) as con:
            n, distinct = con.execute('SELECT count(*), count(DISTINCT raster_id || ":" || col || ":" || row) '
                                      'FROM tg_tiles').fetchone()
            complete, n_tiles = con.execute('SELECT complete, n_tiles FROM tg_rasters').fetchone()
        self.assertEqual((complete, n, distinct), (1, n_tiles, n_tiles))

    def test_4_bad_model(self):
        """Index raster with a truncated model: the CLI's message as QgsProcessingException"""
        bad = os.path.join(TMP, 'truncated.safetensors')
        with open(MODEL, 'rb') as f, open(bad, 'wb') as g:
            g.write(f.read(200))
        db = os.path.join(TMP, 'badmodel.sqlite')
        expected, rc = cli_stderr_message([CLI, 'index', RASTER, '--db', db, '--model', bad])
        self.assertEqual(rc, 1)
        self.assertTrue(expected)
        with self.assertRaises(QgsProcessingException) as cm:
            run_alg('transgeo:indexraster', {'INPUT': [RASTER], 'DATABASE': db, 'MODEL': bad})
        self.assertEqual(str(cm.exception), expected)


class T5Locate(unittest.TestCase):
    @classmethod
    def photo_dir(cls):
        d = os.path.join(TMP, 'photos')
        if not os.path.isdir(d):
            os.makedirs(d)
            for p in PHOTOS:
                shutil.copy(p, d)
            with open(PHOTOS[0], 'rb') as f, open(os.path.join(d, 'truncated.jpg'), 'wb') as g:
                g.write(f.read(300))
        return d

    def test_1_locate(self):
        """Locate photos: points + matched tiles (EPSG:4326) loaded, failures listed"""
        db = Fixture.database()
        out = os.path.join(TMP, 'located.gpkg')
        results, ctx, fb = run_alg('transgeo:locatephotos', {
            'PHOTO_FOLDER': self.photo_dir(), 'DATABASE': db, 'K': 3, 'OUTPUT': out})
        self.assertEqual(results['OUTPUT'], out)
        self.assertEqual((results['LOCATED'], results['FAILED']), (3, 1))
        pts = QgsVectorLayer(results['POINTS'], 'p', 'ogr')
        tiles = QgsVectorLayer(results['TILES'], 't', 'ogr')
        fails = QgsVectorLayer(results['FAILURES'], 'f', 'ogr')
        for lyr in (pts, tiles, fails):
            self.assertTrue(lyr.isValid())
        self.assertEqual(pts.featureCount(), 3)
        self.assertEqual(pts.geometryType(), QgsWkbTypes.PointGeometry)
        self.assertEqual(pts.crs().authid(), 'EPSG:4326')
        for name in ('file', 'lon', 'lat', 'score', 'error_m', 'tile_id', 'heading',
                     'heading_source', 'fov_deg', 'camera_source'):
            self.assertIn(name, layer_fields(pts))
        # the default style: an arrowhead turned by the heading field
        from transgeo.algorithms.locate_photos import view_direction_symbol
        sym = view_direction_symbol()
        self.assertEqual(sym.symbolLayer(1).dataDefinedProperties().property(
            QgsSymbolLayer.PropertyAngle).field(), 'heading')
        details = ctx.layersToLoadOnCompletion().get(results['POINTS'])
        self.assertIsNotNone(details)
        self.assertIsNotNone(details.postProcessor())
        details.postProcessor().postProcessLayer(pts, ctx, fb)
        styled = pts.renderer().symbol()
        self.assertEqual(styled.symbolLayerCount(), 2)
        self.assertEqual(styled.symbolLayer(1).dataDefinedProperties().property(
            QgsSymbolLayer.PropertyAngle).field(), 'heading')
        self.assertGreaterEqual(tiles.featureCount(), 1)
        self.assertEqual(tiles.geometryType(), QgsWkbTypes.PolygonGeometry)
        self.assertEqual(tiles.crs().authid(), 'EPSG:4326')
        self.assertEqual(fails.featureCount(), 1)
        self.assertIn('truncated.jpg', ' '.join(str(v) for f in fails.getFeatures() for v in f.attributes()))
        ids = set(tile_ids(db))
        for f in pts.getFeatures():
            g = f.geometry().asPoint()
            self.assertTrue(RASTER_LON[0] <= g.x() <= RASTER_LON[1] and RASTER_LAT[0] <= g.y() <= RASTER_LAT[1],
                            (f['file'], g.x(), g.y()))
            self.assertIn(f['tile_id'], ids)
        loaded = ctx.layersToLoadOnCompletion()
        self.assertIn(results['POINTS'], loaded)
        self.assertIn(results['TILES'], loaded)
        self.assertIn(results['FAILURES'], loaded)
        ok, layers = load_results('transgeo:locatephotos', ctx)
        self.assertTrue(ok)
        # QGIS names loaded file outputs after the file's layer or after the
        # algorithm's titles, depending on the user's Processing setting
        # PREFER_FILENAME_AS_LAYER_NAME: accept both, keyed by the file's layer.
        names = {'Located photos': 'photos', 'Matched tiles': 'matched_tiles',
                 'Photos not located': 'failures'}
        layers = {names.get(k, k): v for k, v in layers.items()}
        self.assertEqual(sorted(layers), ['failures', 'matched_tiles', 'photos'])
        self.assertEqual(layers['photos'].featureCount(), 3)
        Fixture.located = {os.path.basename(str(f['file'])): f['tile_id'] for f in pts.getFeatures()}

    def test_2_files_near(self):
        """Locate photos: files + near point (UTM) and radius keep every estimate near that point"""
        db = Fixture.database()
        centre = QgsPointXY(-99.154783, 47.020358)  # the raster's centre (PROVENANCE.md)
        radius = 1000.0
        results, _, _ = run_alg('transgeo:locatephotos', {
            # the same centre in the raster's CRS: the plugin hands the CLI lon,lat
            'PHOTOS': PHOTOS[:2], 'DATABASE': db, 'K': 2, 'NEAR': '488237,5207438 [EPSG:26914]',
            'RADIUS': radius, 'OUTPUT': os.path.join(TMP, 'near.gpkg')})
        self.assertEqual((results['LOCATED'], results['FAILED']), (2, 0))
        da = QgsDistanceArea()
        da.setEllipsoid('WGS84')
        pts = QgsVectorLayer(results['POINTS'], 'p', 'ogr')
        for f in pts.getFeatures():
            # tile centres within the radius, give or take half a tile diagonal
            self.assertLessEqual(da.measureLine(centre, f.geometry().asPoint()), radius + TILE_M * 0.75)

    def test_3_replace_or_resume(self):
        """Locate photos replaces an earlier output, or continues it with RESUME"""
        db = Fixture.database()
        out = os.path.join(TMP, 'resume.gpkg')
        run_alg('transgeo:locatephotos', {'PHOTOS': PHOTOS[:1], 'DATABASE': db, 'K': 1, 'OUTPUT': out})
        results, _, _ = run_alg('transgeo:locatephotos', {
            'PHOTOS': PHOTOS[1:2], 'DATABASE': db, 'K': 1, 'OUTPUT': out})
        files = [os.path.basename(str(f['file'])) for f in QgsVectorLayer(results['POINTS'], 'p', 'ogr').getFeatures()]
        self.assertEqual(files, ['02.jpg'])
        results, _, _ = run_alg('transgeo:locatephotos', {
            'PHOTOS': PHOTOS[:3], 'DATABASE': db, 'K': 1, 'RESUME': True, 'OUTPUT': out})
        files = [os.path.basename(str(f['file'])) for f in QgsVectorLayer(results['POINTS'], 'p', 'ogr').getFeatures()]
        self.assertEqual(sorted(files), ['01.jpg', '02.jpg', '03.jpg'])

    def test_4_checks(self):
        """Locate photos refuses: no photos; a near point without a radius"""
        alg = REGISTRY.algorithmById('transgeo:locatephotos')
        ctx = QgsProcessingContext()
        base = {'DATABASE': RASTER, 'OUTPUT': os.path.join(TMP, 'x.gpkg')}
        self.assertEqual(alg.checkParameterValues(base, ctx),
                         (False, 'Choose a photo folder or photo files to locate.'))
        self.assertEqual(alg.checkParameterValues(dict(base, PHOTOS=PHOTOS, NEAR='1,2 [EPSG:4326]'), ctx),
                         (False, 'Give both a near point and a search radius, or neither.'))

    def test_5_bad_database(self):
        """Locate photos on a file that is no database: the CLI's message"""
        bogus = os.path.join(TMP, 'bogus.sqlite')
        with open(bogus, 'w') as f:
            f.write('not a database\n' * 100)
        out = os.path.join(TMP, 'bogus.gpkg')
        expected, rc = cli_stderr_message([CLI, 'locate', PHOTOS[0], '--db', bogus, '-k', '5', '-o', out])
        self.assertEqual(rc, 1)
        self.assertTrue(expected)
        with self.assertRaises(QgsProcessingException) as cm:
            run_alg('transgeo:locatephotos', {'PHOTOS': [PHOTOS[0]], 'DATABASE': bogus, 'OUTPUT': out})
        self.assertEqual(str(cm.exception), expected)


class T6HeatMap(unittest.TestCase):
    def test_1_all_tiles(self):
        """Similarity heat map: every tile once, ranked by score, EPSG:4326 polygons, styled"""
        db = Fixture.database()
        out = os.path.join(TMP, 'heat.gpkg')
        results, ctx, _ = run_alg('transgeo:similarityheatmap', {
            'PHOTO': PHOTOS[0], 'DATABASE': db,
            'OUTPUT': QgsProcessingOutputLayerDefinition(out, QgsProject.instance())})
        self.assertEqual(results['OUTPUT'], out)
        lyr = QgsVectorLayer(results['OUTPUT'], 'h', 'ogr')
        self.assertTrue(lyr.isValid())
        self.assertEqual(lyr.crs().authid(), 'EPSG:4326')
        self.assertEqual(lyr.geometryType(), QgsWkbTypes.PolygonGeometry)
        self.assertEqual(layer_fields(lyr)[-6:], ['rank', 'tile_id', 'score', 'lon', 'lat', 'error_m'])
        feats = sorted(lyr.getFeatures(), key=lambda f: f['rank'])
        ids = tile_ids(db)
        self.assertEqual(sorted(f['tile_id'] for f in feats), ids)
        self.assertEqual([f['rank'] for f in feats], list(range(1, len(ids) + 1)))
        scores = [f['score'] for f in feats]
        self.assertEqual(scores, sorted(scores, reverse=True))
        for f in feats:
            self.assertTrue(f.hasGeometry() and f.geometry().area() > 0)
            c = f.geometry().centroid().asPoint()
            self.assertAlmostEqual(c.x(), f['lon'], delta=0.01)
            self.assertAlmostEqual(c.y(), f['lat'], delta=0.01)
        ok, layers = load_results('transgeo:similarityheatmap', ctx)
        self.assertTrue(ok)
        layers = {('heat' if k == 'Similarity heat map' else k): v for k, v in layers.items()}
        self.assertEqual(list(layers), ['heat'])
        renderer = layers['heat'].renderer()
        self.assertEqual((renderer.type(), renderer.classAttribute()), ('graduatedSymbol', 'score'))
        self.assertEqual(len(renderer.ranges()), 7)
        # the best tile is the one the CLI's locate chose for the same photo
        located = getattr(Fixture, 'located', None)
        if located and '01.jpg' in located:
            self.assertEqual(feats[0]['tile_id'], located['01.jpg'])

    def test_2_limit(self):
        """Similarity heat map with Tiles = 5 into a temporary layer: the five best"""
        db = Fixture.database()
        results, ctx, _ = run_alg('transgeo:similarityheatmap', {
            'PHOTO': PHOTOS[1], 'DATABASE': db, 'MAX_TILES': 5, 'OUTPUT': 'TEMPORARY_OUTPUT'})
        lyr = QgsProcessingUtils.mapLayerFromString(results['OUTPUT'], ctx)
        self.assertEqual(lyr.providerType(), 'memory')
        self.assertEqual(lyr.crs().authid(), 'EPSG:4326')
        self.assertEqual(sorted(f['rank'] for f in lyr.getFeatures()), [1, 2, 3, 4, 5])

    def test_3_not_a_database(self):
        """Similarity heat map on a database without tiles: says to index first"""
        empty = os.path.join(TMP, 'empty.sqlite')
        sqlite3.connect(empty).close()
        with self.assertRaises(QgsProcessingException) as cm:
            run_alg('transgeo:similarityheatmap', {'PHOTO': PHOTOS[0], 'DATABASE': empty,
                                                   'OUTPUT': os.path.join(TMP, 'h0.gpkg')})
        self.assertEqual(str(cm.exception),
                         "database '{}' is not a TransGeo database (no such table: tg_tiles): build it "
                         "with 'Index raster' first".format(empty))

    def test_4_bad_photo(self):
        """Similarity heat map on a file that is no image: the extension's own message"""
        db = Fixture.database()
        bogus = os.path.join(TMP, 'not-a-photo.jpg')
        with open(bogus, 'w') as f:
            f.write('hello\n')
        ext = tgsettings.resolve_extension()
        con = sqlite3.connect(db)
        con.enable_load_extension(True)
        con.load_extension('mod_spatialite')
        con.load_extension(ext)
        with self.assertRaises(sqlite3.Error) as direct:
            con.execute('SELECT * FROM tg_matches(?, 3)', (bogus,)).fetchall()
        con.close()
        with self.assertRaises(QgsProcessingException) as cm:
            run_alg('transgeo:similarityheatmap', {'PHOTO': bogus, 'DATABASE': db, 'MAX_TILES': 3,
                                                   'OUTPUT': os.path.join(TMP, 'hbad.gpkg')})
        self.assertEqual(str(cm.exception), str(direct.exception))


# ---------------------------------------------------------------------------

class TapResult(unittest.TestResult):
    def __init__(self):
        super().__init__()
        self.n = 0

    def _line(self, test, ok, extra=''):
        self.n += 1
        desc = (test.shortDescription() or test.id()).replace('#', '')
        print('{}ok {} - {}{}'.format('' if ok else 'not ', self.n, desc, extra), flush=True)

    def addSuccess(self, test):  # noqa: N802
        super().addSuccess(test)
        self._line(test, True)

    def addFailure(self, test, err):  # noqa: N802
        super().addFailure(test, err)
        self._line(test, False)
        self._diag(self.failures[-1][1])

    def addError(self, test, err):  # noqa: N802
        super().addError(test, err)
        self._line(test, False)
        self._diag(self.errors[-1][1])

    def addSkip(self, test, reason):  # noqa: N802
        super().addSkip(test, reason)
        self._line(test, True, ' # SKIP ' + reason)

    @staticmethod
    def _diag(text):
        for line in text.rstrip().splitlines():
            print('# ' + line, flush=True)


def main():
    loader = unittest.TestLoader()
    result = TapResult()
    # T1Plugin checks registration itself, so it runs before the provider is added.
    loader.loadTestsFromTestCase(T1Plugin).run(result)
    provider = TransGeoProvider()
    REGISTRY.addProvider(provider)
    for case in (T2Provider, T3Runner, T4Index, T5Locate, T6HeatMap):
        loader.loadTestsFromTestCase(case).run(result)
    REGISTRY.removeProvider(provider)
    print('1..{}'.format(result.n))
    return 0 if result.wasSuccessful() else 1


if __name__ == '__main__':
    rc = main()
    APP.exitQgis()
    sys.exit(rc)
