"""Provider settings (Settings > Options > Processing > Providers > TransGeo).

TRANSGEO_CLI            the transgeo executable: a path, or a name looked up on PATH
                        (default "transgeo").
TRANSGEO_SQL_EXTENSION  the mod_transgeo SQLite extension used by "Similarity heat map":
                        a path, or empty to look next to the transgeo executable
                        (build tree: .libs/; installed: ../lib/, ../lib/transgeo/) and
                        then on the loader's search path.
"""
import os
import shutil

from processing.core.ProcessingConfig import ProcessingConfig, Setting

PROVIDER_NAME = 'TransGeo'
CLI_SETTING = 'TRANSGEO_CLI'
EXT_SETTING = 'TRANSGEO_SQL_EXTENSION'
DEFAULT_CLI = 'transgeo'
EXT_NAME = 'mod_transgeo'


def _is_bare_name(value):
    return os.sep not in value and not (os.altsep and os.altsep in value)


def path_validator(tr):
    """Setting validator: empty, a bare name (looked up when used) or an existing file."""
    def check(value):
        value = str(value or '').strip()
        if value and not _is_bare_name(value) and not os.path.isfile(os.path.expanduser(value)):
            raise ValueError(tr('No such file: {}').format(value))
    return check


def add_settings(tr):
    """Register the settings; tr translates their labels."""
    ProcessingConfig.addSetting(Setting(
        PROVIDER_NAME, CLI_SETTING, tr('transgeo executable (path, or a name on PATH)'),
        DEFAULT_CLI, valuetype=Setting.FILE, validator=path_validator(tr)))
    ProcessingConfig.addSetting(Setting(
        PROVIDER_NAME, EXT_SETTING,
        tr('mod_transgeo SQLite extension (empty: next to the transgeo executable)'),
        '', valuetype=Setting.FILE, validator=path_validator(tr)))
    ProcessingConfig.readSettings()


def remove_settings():
    ProcessingConfig.removeSetting(CLI_SETTING)
    ProcessingConfig.removeSetting(EXT_SETTING)


def _setting(name):
    value = ProcessingConfig.getSetting(name)
    return str(value).strip() if value else ''


def cli_setting():
    """The configured executable as given (a path or a bare name)."""
    return _setting(CLI_SETTING) or DEFAULT_CLI


def resolve_cli():
    """Absolute path of the transgeo executable, or None when it cannot be found."""
    cli = os.path.expanduser(cli_setting())
    if not _is_bare_name(cli):
        return os.path.abspath(cli) if os.path.isfile(cli) and os.access(cli, os.X_OK) else None
    return shutil.which(cli)


def extension_candidates(cli_exe):
    """Where mod_transgeo may be, given the transgeo executable (or None)."""
    found = []
    if cli_exe:
        bindir = os.path.dirname(os.path.realpath(cli_exe))
        for rel in ('.libs', os.path.join('..', 'lib', 'transgeo'), os.path.join('..', 'lib')):
            for suffix in ('.so', '.dylib', '.dll'):
                found.append(os.path.normpath(os.path.join(bindir, rel, EXT_NAME + suffix)))
    return found


def resolve_extension():
    """The mod_transgeo path to give sqlite3's load_extension().

    The setting when set; else the first candidate next to the executable that
    exists; else the bare name, which the dynamic loader looks up itself.
    """
    configured = _setting(EXT_SETTING)
    if configured:
        return os.path.expanduser(configured)
    for path in extension_candidates(resolve_cli()):
        if os.path.isfile(path):
            return path
    return EXT_NAME
