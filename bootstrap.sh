#!/bin/sh
# bootstrap.sh - set up a fresh Debian 12 machine to build and test transgeo.
#
#   ./bootstrap.sh [--builddir DIR] [--enable-sanitizers] [--no-apt] [CONFIGURE-ARGS...]
#
# 1. installs every build and test dependency with apt-get (as root; via sudo
#    if you are not root) — only Debian packages, nothing else is downloaded;
# 2. runs autoreconf when configure is missing or older than its sources;
# 3. runs ../configure in DIR (default: build) unless already configured.
# Idempotent: a second run checks and returns in about a second.
set -eu
cd "$(dirname "$0")"
builddir=build
apt=yes
cfg_args=""
while [ $# -gt 0 ]; do
    case "$1" in
        --builddir) builddir=$2; shift 2 ;;
        --builddir=*) builddir=${1#*=}; shift ;;
        --no-apt) apt=no; shift ;;
        -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) cfg_args="$cfg_args $1"; shift ;;
    esac
done

# Debian packages: build tools, the field's libraries, and what the tests use
# (reference PyTorch model, GDAL/PROJ command-line tools, GeographicLib's
# GeoConvert for UTM/UPS zones, exiftool, man, headless QGIS for the
# Processing plugin tests (python3-qgis, and qgis for qgis_process.bin),
# clang's libFuzzer for tests/fuzz).
PACKAGES="build-essential autoconf automake libtool pkg-config
libgdal-dev libproj-dev libspatialite-dev libsqlite3-dev libopenblas-dev libtiff-dev libjansson-dev
gdal-bin proj-bin sqlite3 libsqlite3-mod-spatialite
python3 python3-torch python3-numpy python3-gdal python3-pil
libimage-exiftool-perl man-db groff-base geographiclib-tools
python3-qgis qgis-providers qgis xvfb bc time clang libclang-rt-14-dev
libpq-dev postgresql-15 postgresql-15-postgis-3 postgresql-server-dev-15 iproute2"

if [ "$apt" = yes ]; then
    missing=""
    for p in $PACKAGES; do
        st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
        case "$st" in *"install ok installed"*) ;; *) missing="$missing $p" ;; esac
    done
    if [ -n "$missing" ]; then
        echo "bootstrap: installing Debian packages:$missing"
        SUDO=""
        if [ "$(id -u)" -ne 0 ]; then
            command -v sudo >/dev/null 2>&1 || { echo "bootstrap: run as root (or install sudo) to install:$missing" >&2; exit 1; }
            SUDO=sudo
        fi
        APT="$SUDO env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900"
        $APT update -q
        # shellcheck disable=SC2086
        $APT install -y -q --no-install-recommends $missing
    fi
fi

# Regenerate the build system when configure is missing or stale.
stale=no
[ -x configure ] || stale=yes
if [ "$stale" = no ]; then
    for f in configure.ac Makefile.am $(find . -name '*.mk' -not -path './build*' -not -path './.git/*'); do
        [ "$f" -nt configure ] && stale=yes && break
    done
fi
if [ "$stale" = yes ]; then
    echo "bootstrap: autoreconf"
    mkdir -p m4
    autoreconf -fi
fi

mkdir -p "$builddir"
if [ ! -f "$builddir/config.status" ] || [ -n "$cfg_args" ] && ! grep -q -- "$(echo $cfg_args)" "$builddir/config.status" 2>/dev/null; then
    echo "bootstrap: configuring in $builddir"
    # shellcheck disable=SC2086
    (cd "$builddir" && "$OLDPWD/configure" -q $cfg_args)
fi
echo "bootstrap: ready. Build with: make -C $builddir -j$(nproc)"
