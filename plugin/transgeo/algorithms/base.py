"""Base class of the TransGeo algorithms: runs the transgeo CLI from an argv list.

Subclasses build the argument list (never a shell string) and call
run_transgeo(args, feedback); it starts the executable configured in the
provider settings, maps its progress (--progress=json lines) into feedback,
stops it when the user cancels and raises QgsProcessingException with the
CLI's own error message when it exits with a non-zero status. The plugin computes nothing itself.
"""
import os
import shlex

from qgis.core import QgsProcessingAlgorithm, QgsProcessingException
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtGui import QIcon

from .. import settings
from ..cli import error_text, run_command, with_progress

ICON_PATH = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'icons', 'transgeo.svg')


class Canceled(Exception):
    """Raised by run_transgeo when the user cancelled; processAlgorithm returns {}."""


class TransGeoAlgorithm(QgsProcessingAlgorithm):
    def createInstance(self):  # noqa: N802 (QGIS's name)
        return type(self)()

    def icon(self):
        return QIcon(ICON_PATH)

    def svgIconPath(self):  # noqa: N802
        return ICON_PATH

    def group(self):
        return ''

    def groupId(self):  # noqa: N802
        return ''

    def tr(self, string):
        return QCoreApplication.translate(type(self).__name__, string)

    # -- running the CLI -------------------------------------------------

    def cli_executable(self):
        """Absolute path of the transgeo executable, or QgsProcessingException."""
        exe = settings.resolve_cli()
        if exe is None:
            raise QgsProcessingException(self.tr(
                "transgeo executable '{}' not found: install transgeo or set its path in "
                "Settings > Options > Processing > Providers > TransGeo").format(settings.cli_setting()))
        return exe

    def run_transgeo(self, args, feedback):
        """Run `transgeo ARGS...`; return its stdout text.

        Raises Canceled when feedback was cancelled (the process is stopped) and
        QgsProcessingException with the CLI's stderr message when it fails.
        """
        argv = with_progress([self.cli_executable()] + [str(a) for a in args])
        feedback.pushCommandInfo(' '.join(shlex.quote(a) for a in argv))
        try:
            result = run_command(argv, feedback)
        except OSError as e:
            raise QgsProcessingException(self.tr("cannot run '{}': {}").format(argv[0], e.strerror or e))
        if result.canceled:
            feedback.pushInfo(self.tr('Cancelled: transgeo was stopped.'))
            raise Canceled()
        if result.returncode != 0:
            raise QgsProcessingException(error_text(result))
        feedback.setProgress(100)
        return result.stdout

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        try:
            return self.process(parameters, context, feedback)
        except Canceled:
            return {}

    def process(self, parameters, context, feedback):
        """Subclasses: the algorithm body (processAlgorithm handles cancellation)."""
        raise NotImplementedError
