#!/usr/bin/python3
"""Build the QGIS plugin ZIP (Plugins > Manage and Install Plugins > Install from ZIP).

    make_zip.py PLUGIN_DIR OUT.zip [LICENSE]

PLUGIN_DIR is plugin/transgeo; the archive holds it as the top folder
"transgeo/" (what QGIS expects), without __pycache__ or editor leftovers, plus
the project's LICENSE file as transgeo/LICENSE when given. Entries
are sorted and dated 1980-01-01 so the same sources give the same bytes.
"""
import os
import sys
import zipfile

SKIP_DIRS = {'__pycache__'}
SKIP_SUFFIXES = ('.pyc', '.pyo', '~', '.swp', '.orig', '.rej')


def plugin_files(plugin_dir):
    for root, dirs, files in os.walk(plugin_dir):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith('.'))
        for name in sorted(files):
            if name.startswith('.') or name.endswith(SKIP_SUFFIXES):
                continue
            yield os.path.join(root, name)


def make_zip(plugin_dir, out, license_file=None):
    plugin_dir = os.path.normpath(plugin_dir)
    top = os.path.basename(plugin_dir)
    if not os.path.isfile(os.path.join(plugin_dir, 'metadata.txt')):
        raise SystemExit("make_zip.py: '{}' has no metadata.txt: not a QGIS plugin folder".format(plugin_dir))
    entries = [(path, os.path.join(top, os.path.relpath(path, plugin_dir)).replace(os.sep, '/'))
               for path in plugin_files(plugin_dir)]
    if license_file:
        entries.append((license_file, top + '/LICENSE'))
    tmp = out + '.tmp'
    with zipfile.ZipFile(tmp, 'w', zipfile.ZIP_DEFLATED) as z:
        for path, arc in entries:
            info = zipfile.ZipInfo(arc, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            with open(path, 'rb') as f:
                z.writestr(info, f.read())
    os.replace(tmp, out)


if __name__ == '__main__':
    if len(sys.argv) not in (3, 4):
        sys.stderr.write('usage: make_zip.py PLUGIN_DIR OUT.zip [LICENSE]\n')
        sys.exit(2)
    make_zip(*sys.argv[1:])
