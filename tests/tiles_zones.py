#!/usr/bin/python3
"""tiles_zones.py - the tiler cuts in the zone of geo's one UTM/UPS rule.

`transgeo tiles` picks the working CRS of a geographic raster with
tg_geo_utm_epsg's rule (UTM with the Norway 32V and Svalbard 31X..37X
exceptions, UPS beyond 84 N / 80 S). Inputs: the HRO orthophoto's pixels
georeferenced anew in EPSG:4326 (gdal_translate -a_ullr -a_srs), 115 x 70 m,
centred at
  5.5 E 60.5 N  Norway: zone 32V (the plain 6-degree rule says 31)
  15 E 78 N     Svalbard: zone 33X
  10 E 78 N     Svalbard: zone 33X (the plain rule says 32)
  2 E 86 N      UPS North, grid turned 2 degrees from true north
  2 E 81 S      UPS South
  15 E 86 N     UPS grid turned 15 degrees: refused (tiles would not be
                north-up), then tiled in the polar stereographic the message
                offers, after gdalwarp -t_srs to it and with --t-srs.
Independent sources:
  - GeographicLib's GeoConvert -u (UTMUPS::StandardZone with the exceptions;
    its own transverse Mercator and polar stereographic): the zone of the
    raster centre, and the easting/northing of every tile centre (whose
    lon/lat the tiler computed with PROJ) = the tile's grid centre within 1 cm;
  - gdalwarp -t_srs EPSG:zone for the tile's window (pixels, within the
    approximate transformer's error), gdaltransform (footprints), geod +
    proj -S (ground size), as in tiles_gdal.py;
  - proj -V (PROJ's meridian convergence) for the refusal's number and for
    the north-up-ness of the offered CRS.
Tools: GeoConvert (geographiclib-tools), gdal_translate, gdalwarp,
gdaltransform (gdal-bin), proj, geod, projinfo (proj-bin).
"""
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tiles_gdal as tg  # noqa: E402  (its checks against gdalwarp, gdaltransform, geod)

from osgeo import gdal  # noqa: E402

tg.TMP = os.path.join(os.environ.get("TG_TMPDIR", "/tmp"), "tiles_zones")
ok = tg.ok
HRO = tg.HRO + ".tif"
SMALL = ["--tile-m", "16", "--gsd-m", "0.25"]
PIX_M = 0.3  # ground size of one HRO pixel in the copies, metres


def make_raster(name, lon, lat):
    """The HRO pixels in EPSG:4326, centred at (lon, lat), PIX_M m pixels."""
    src = gdal.Open(HRO)
    w, h = src.RasterXSize, src.RasterYSize
    dlat = h * PIX_M / 2 / 111320.0  # nominal size: about PIX_M m per pixel is enough
    dlon = w * PIX_M / 2 / (111320.0 * abs(tg.math.cos(tg.math.radians(lat))))
    out = os.path.join(tg.TMP, name + ".tif")
    rc, _, se = tg.sh(["gdal_translate", "-q", "-a_srs", "EPSG:4326", "-a_ullr", repr(lon - dlon), repr(lat + dlat),
                       repr(lon + dlon), repr(lat - dlat), HRO, out])
    if rc:
        print("# gdal_translate failed: " + se.strip())
    return out


def geoconvert(points):
    """GeoConvert -u -p 3 for [(lon, lat)]: [(zone, easting, northing)]."""
    rc, so, se = tg.sh(["GeoConvert", "-u", "-p", "3"], "".join("%.10f %.10f\n" % (la, lo) for lo, la in points))
    res = []
    for line in so.splitlines():
        z, e, n = line.split()
        res.append((z, float(e), float(n)))
    return res


def zone_epsg(z):
    """GeoConvert's zone ('32n', 's', ...) as the EPSG code of WGS 84 / UTM or UPS."""
    m = re.match(r"(\d*)([ns])$", z)
    if not m.group(1):
        return 32661 if m.group(2) == "n" else 32761
    return (32600 if m.group(2) == "n" else 32700) + int(m.group(1))


def check_centres(label, out, epsg):
    """Every tile centre's lon/lat (PROJ, in the tiler) back to the zone by
    GeographicLib = the tile's grid centre, and in the same zone."""
    fp = tg.footprints(out)
    keys = sorted(fp)
    grid, ll = [], []
    for k in keys:
        attrs = fp[k][0]
        _, gt, n = tg.tile_array(out, attrs)
        grid.append((gt[0] + n * gt[1] / 2, gt[3] + n * gt[5] / 2))
        ll.append((attrs["center_lon"], attrs["center_lat"]))
    got = geoconvert(ll)
    zones = {zone_epsg(z) for z, _, _ in got}
    worst = max([max(abs(e - x), abs(n - y)) for (_, e, n), (x, y) in zip(got, grid)] or [1e9])
    ok(len(got) == len(keys) > 0 and zones == {epsg} and worst < 0.01,
       "%s: %d tile centres: GeoConvert puts them in EPSG:%s at the tiles' grid centres (worst %.4f m)"
       % (label, len(keys), "/".join(map(str, sorted(zones))), worst))


def check_pixels(label, src, out, plan, sample):
    """Tile pixels = gdalwarp -t_srs EPSG:zone -te/-ts for the tile's window.
    Both warp EPSG:4326 through GDAL's approximate transformer (0.125 px
    error, tilecache.h), over different spans (a strip of the grid, one
    tile), so pixels valid in both may differ by a few levels (measured: max
    4, mean 0.23 at 86 N; 1 and 0.03 at 60.5 N) and the valid share by a
    few edge pixels. Allowed: max 8, mean 0.5, valid share 0.01."""
    fp = tg.footprints(out)
    keys = sorted(fp)[::max(1, len(fp) // sample)][:sample]
    worst_max, worst_mean, worst_share = 0, 0.0, 0.0
    for k in keys:
        a, gt, n = tg.tile_array(out, fp[k][0])
        ref, alpha = tg.gdalwarp_tile(src, tg.work_srs(plan), gt, n, tg.wo_scale(plan))
        both = alpha == 255
        if both.any():
            d = tg.np.abs(a - ref)[:, both]
            worst_max, worst_mean = max(worst_max, int(d.max())), max(worst_mean, float(d.mean()))
        worst_share = max(worst_share, abs(fp[k][0]["valid_share"] - alpha.mean() / 255.0))
    ok(len(keys) > 0 and worst_max <= 8 and worst_mean <= 0.5 and worst_share <= 0.01,
       "%s: %d tiles = gdalwarp -t_srs %s for their window: valid pixels max |diff| %d, worst mean %.3f; "
       "valid share within %.4f" % (label, len(keys), tg.work_srs(plan), worst_max, worst_mean, worst_share))


def convergence_deg(proj_args, lon, lat):
    """PROJ's meridian convergence (proj -V), degrees."""
    rc, so, se = tg.sh(["proj", "-V"] + proj_args, "%.10f %.10f\n" % (lon, lat))
    m = re.search(r"Convergence\s*:.*\[\s*([-\d.eE+]+)\s*\]", so)
    return float(m.group(1)) if m else None


def main():
    for tool in ("GeoConvert", "gdal_translate", "gdalwarp", "gdaltransform", "geod", "proj", "projinfo"):
        if not shutil.which(tool):
            tg.skip("tiler zones checked against GeographicLib and PROJ",
                    "%s not installed (geographiclib-tools / gdal-bin / proj-bin)" % tool)
            print("1..%d" % tg.count)
            return 0
    if not os.path.exists(HRO):
        tg.skip("tiler zones checked against GeographicLib and PROJ", "shared/data/rasters not found")
        print("1..%d" % tg.count)
        return 0
    shutil.rmtree(tg.TMP, ignore_errors=True)
    os.makedirs(tg.TMP)

    cases = [("norway", 5.5, 60.5, 31), ("svalbard15", 15.0, 78.0, 33), ("svalbard10", 10.0, 78.0, 32),
             ("ups_north", 2.0, 86.0, None), ("ups_south", 2.0, -81.0, None)]
    for name, lon, lat, plain in cases:
        src = make_raster(name, lon, lat)
        (z, _, _), = geoconvert([(lon, lat)])
        want = zone_epsg(z)
        rc, plan, out = tg.tiles(src, name, *SMALL, "--max-nodata", "1")
        label = "%g E %g N" % (lon, lat) if lat >= 0 else "%g E %g S" % (lon, -lat)
        got = tg.work_srs(plan)
        ok(rc == 0 and got == "EPSG:%d" % want,
           "%s: tiled in EPSG:%d, GeoConvert's zone %s%s (got %s)"
           % (label, want, z, "" if plain is None else "; the plain 6-degree rule would say %d" % plain, got))
        if rc:
            continue
        ok("rule of tg_geo_utm_epsg: EPSG:%d" % want in plan.get("working crs reason", ""),
           "%s: the plan's reason names the rule and its code" % label, plan.get("working crs reason"))
        check_centres(label, out, want)
        check_pixels(label, src, out, plan, 40)
        tg.check_gdaltransform(label, out, plan)
        tg.check_ground_size(label, out, plan, 0.01)

    # A polar raster far from 0 E: UPS would turn its tiles; refused with a fix.
    lon, lat = 15.0, 86.0
    src = make_raster("ups_turned", lon, lat)
    rc, so, se = tg.sh([tg.TRANSGEO, "tiles", src, "-o", os.path.join(tg.TMP, "turned"), "--quiet"] + SMALL)
    m = re.search(r"grid north is turned ([\d.]+) degrees from true north \(at longitude ([-\d.]+), latitude "
                  r"([-\d.]+)", se)
    ok(rc == 1 and m is not None, "15 E 86 N: refused, exit 1: UPS grid not north-up", se.strip())
    if m:
        g, glon, glat = float(m.group(1)), float(m.group(2)), float(m.group(3))
        ups = [t for t in tg.proj_string("EPSG:32661") if t != "+type=crs"]
        ref = convergence_deg(ups, glon, glat)
        ok(ref is not None and abs(abs(ref) - g) <= 0.05 and g > 9,
           "15 E 86 N: the turn it reports, %.1f deg at (%g, %g), = PROJ's convergence there (proj -V: %s)"
           % (g, glon, glat, ref))
    fix = re.search(r"gdalwarp -t_srs '([^']+)'", se)
    ok(fix is not None and "+proj=stere" in fix.group(1) and "+lon_0=15" in fix.group(1),
       "15 E 86 N: the message offers a polar stereographic on the raster's meridian", se.strip())
    if fix:
        pstr = fix.group(1).split()
        c = convergence_deg(pstr, lon, lat)
        ok(c is not None and abs(c) < 1e-6, "the offered CRS is north-up at the raster centre (proj -V "
           "convergence %s deg)" % c)
        warped = os.path.join(tg.TMP, "ups_turned_warped.tif")
        rcw, _, sew = tg.sh(["gdalwarp", "-q", "-t_srs", fix.group(1), "-r", "bilinear", "-tr", "0.3", "0.3",
                             src, warped])
        rc, plan, out = tg.tiles(warped, "turned_own", *SMALL, "--max-nodata", "1")
        ok(rcw == 0 and rc == 0 and "own CRS" in plan.get("working crs reason", ""),
           "reprojected with gdalwarp -t_srs as offered: tiled in its own CRS", sew)
        rc, plan, out = tg.tiles(src, "turned_tsrs", *SMALL, "--max-nodata", "1", "--t-srs", fix.group(1))
        ok(rc == 0, "15 E 86 N with --t-srs set to the offered CRS: tiled")
        if rc == 0:
            fp = tg.footprints(out)
            cs = [convergence_deg(pstr, a["center_lon"], a["center_lat"]) for a, _ in fp.values()]
            worst = max(abs(c) if c is not None else 99 for c in cs)
            ok(worst < 1.0, "  its %d tiles are north-up within 1 deg (worst convergence %.3f deg, proj -V)"
               % (len(fp), worst))

    print("1..%d" % tg.count)
    return 1 if tg.failures else 0


if __name__ == "__main__":
    sys.exit(main())
