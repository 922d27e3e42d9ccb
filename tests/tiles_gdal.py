#!/usr/bin/python3
"""tiles_gdal.py - `transgeo tiles` checked against GDAL's and PROJ's own tools.

Inputs are the real rasters of shared/data (facts in its PROVENANCE.md) and
copies made here with GDAL (rotated, Web Mercator). Checks:
  - the striped HRO orthophoto and its tiled COG twin (same scene and
    geotransform, JPEG-compressed): identical footprints, pixels within the
    JPEG loss;
  - the alpha / mask / nodata variants: identical footprints; each skips
    exactly the tiles that gdalwarp -dstalpha says are more than half invalid;
  - tile pixels = `gdalwarp -t_srs W -te .. -ts N N -r bilinear -dstalpha
    -wo XSCALE -wo YSCALE` for the same window: 0 levels difference (the -wo
    values are printed by the plan; they fix the kernel scale GDAL otherwise
    estimates per chunk; 1 level when reprojected). Plain gdalwarp without
    them: mean |diff| <= 2 levels per tile (GDAL's own chunk-to-chunk
    variation when downsampling);
  - footprints = `gdaltransform` of the tile corners within 1 cm;
  - true ground size: tile edges measured with `geod +ellps=WGS84 -I` equal
    tile_m / k, k = the working CRS's point scale (`proj -S`), within 1 cm
    (2 cm for the 1.14 km Landsat tiles), for the US-feet, SIRGAS 2000, Web
    Mercator and metre rasters;
  - two NAIP dates with shifted pixel grids share tile positions.
Tools: gdalwarp, gdaltransform (gdal-bin), geod, proj, projinfo (proj-bin).
"""
import math
import os
import re
import shutil
import subprocess
import sys

import numpy as np
from osgeo import gdal, ogr

gdal.UseExceptions()
ogr.UseExceptions()

TOP_BUILDDIR = os.environ.get("TOP_BUILDDIR", ".")
TRANSGEO = os.path.join(TOP_BUILDDIR, "transgeo")
DATA = os.path.join(os.environ.get("TG_SHARED_DATA", "../shared/data"), "rasters")
TMP = os.path.join(os.environ.get("TG_TMPDIR", "/tmp"), "tiles_gdal")
HRO = os.path.join(DATA, "201404_13SED190110_201404_0x1500m_CL_1")

count = 0
failures = 0


def ok(cond, what, detail=None):
    global count, failures
    count += 1
    print(("ok %d - %s" if cond else "not ok %d - %s") % (count, what))
    if not cond:
        failures += 1
        if detail:
            print("#   " + str(detail).replace("\n", "\n#   "))
    sys.stdout.flush()
    return cond


def skip(what, why):
    global count
    count += 1
    print("ok %d - %s # SKIP %s" % (count, what, why))


def sh(args, stdin=None):
    p = subprocess.run(args, input=stdin, capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def tiles(raster, name, *opts):
    """Run `transgeo tiles`; return (rc, plan dict, out dir)."""
    out = os.path.join(TMP, name)
    shutil.rmtree(out, ignore_errors=True)
    rc, so, se = sh([TRANSGEO, "tiles", raster, "-o", out, "--quiet"] + list(opts))
    plan = {}
    if rc == 0:
        _, so, se = sh([TRANSGEO, "tiles", raster, "--dry-run"] + list(opts))
        for line in so.splitlines():
            k, _, v = line.partition(": ")
            plan[k] = v
    else:
        print("# transgeo tiles failed: " + se.strip())
    return rc, plan, out


def wo_scale(plan):
    m = re.search(r"-wo XSCALE=(\S+) -wo YSCALE=(\S+)", plan.get("resampling", ""))
    return ["-wo", "XSCALE=" + m.group(1), "-wo", "YSCALE=" + m.group(2)] if m else []


def work_srs(plan):
    m = re.match(r"EPSG:(\d+)", plan.get("working crs", ""))
    return "EPSG:" + m.group(1) if m else None


def footprints(out):
    """{(col, row): (attrs dict, [(lon, lat) x 5])} from footprints.gpkg."""
    res = {}
    ds = ogr.Open(os.path.join(out, "footprints.gpkg"))
    lyr = ds.GetLayer("tiles")
    for f in lyr:
        attrs = {k: f.GetField(k) for k in f.keys()}
        ring = f.GetGeometryRef().GetGeometryRef(0)
        pts = [(ring.GetX(i), ring.GetY(i)) for i in range(ring.GetPointCount())]
        res[(attrs["col"], attrs["row"])] = (attrs, pts)
    return res


def tile_array(out, attrs):
    ds = gdal.Open(os.path.join(out, attrs["file"]))
    return ds.ReadAsArray().astype(np.int32), ds.GetGeoTransform(), ds.RasterXSize


def gdalwarp_tile(src, srs, gt, n, extra, cli=False):
    """gdalwarp of one tile window: the gdalwarp program (cli) or the same
    GDALWarp() library call in process (gdal.Warp with the same arguments)."""
    te = [gt[0], gt[3] + n * gt[5], gt[0] + n * gt[1], gt[3]]
    args = ["-t_srs", srs, "-te"] + ["%.10f" % v for v in te] + ["-ts", str(n), str(n), "-r", "bilinear",
                                                                   "-dstalpha"] + extra
    if cli:
        dst = os.path.join(TMP, "ref.tif")
        rc, so, se = sh(["gdalwarp", "-q", "-overwrite"] + args + [src, dst])
        if rc:
            raise RuntimeError(se)
        a = gdal.Open(dst).ReadAsArray().astype(np.int32)
    else:
        ds = gdal.Warp("", src, options=gdal.WarpOptions(options=["-of", "MEM"] + args))
        a = ds.ReadAsArray().astype(np.int32)
    return a[:3] * (a[3:4] > 0), a[3]


def check_gdalwarp(label, src, out, plan, sample, same_crs):
    fp = footprints(out)
    keys = sorted(fp)[::max(1, len(fp) // sample)][:sample]
    srs, scale = work_srs(plan), wo_scale(plan)
    worst, worst_cli, worst_plain = 0, 0, 0.0
    for i, k in enumerate(keys):
        a, gt, n = tile_array(out, fp[k][0])
        ref, _ = gdalwarp_tile(src, srs, gt, n, scale)
        worst = max(worst, int(np.abs(a - ref).max()))
        if i < 2:  # the gdalwarp program itself, for a couple of tiles
            ref, _ = gdalwarp_tile(src, srs, gt, n, scale, cli=True)
            worst_cli = max(worst_cli, int(np.abs(a - ref).max()))
        plain, _ = gdalwarp_tile(src, srs, gt, n, [])
        worst_plain = max(worst_plain, float(np.abs(a - plain).mean()))
    tol = 0 if same_crs else 1
    ok(len(keys) > 0 and max(worst, worst_cli) <= tol,
       "%s: %d tiles = gdalwarp -te/-ts -r bilinear with the plan's -wo XSCALE/YSCALE (max |diff| %d, "
       "gdalwarp program %d, allowed %d)" % (label, len(keys), worst, worst_cli, tol))
    ok(worst_plain <= 2.0, "%s: plain gdalwarp (per-chunk kernel scale): mean |diff| per tile <= 2 (worst %.3f)"
       % (label, worst_plain))


def check_gdaltransform(label, out, plan):
    fp = footprints(out)
    srs = work_srs(plan)
    lines, want = [], []
    for k in sorted(fp):
        attrs, ring = fp[k]
        _, gt, n = tile_array(out, attrs) if attrs["file"] else (None, None, None)
        x0, y1 = gt[0], gt[3]
        x1, y0 = gt[0] + n * gt[1], gt[3] + n * gt[5]
        # ring: UL, LL, LR, UR, UL (counter-clockwise)
        for (x, y), (lon, lat) in zip([(x0, y1), (x0, y0), (x1, y0), (x1, y1)], ring[:4]):
            lines.append("%.6f %.6f" % (x, y))
            want.append((lon, lat))
        lines.append("%.6f %.6f" % ((x0 + x1) / 2, (y0 + y1) / 2))
        want.append((attrs["center_lon"], attrs["center_lat"]))
    rc, so, se = sh(["gdaltransform", "-s_srs", srs, "-t_srs", "EPSG:4326", "-output_xy"], "\n".join(lines) + "\n")
    got = [tuple(map(float, l.split()[:2])) for l in so.splitlines() if l.strip()]
    worst = 0.0
    for (lon, lat), (glon, glat) in zip(want, got):
        dy = (lat - glat) * 111320.0
        dx = (lon - glon) * 111320.0 * math.cos(math.radians(lat))
        worst = max(worst, math.hypot(dx, dy))
    ok(rc == 0 and len(got) == len(want) and worst < 0.01,
       "%s: %d corners and centres = gdaltransform %s -> EPSG:4326 within 1 cm (worst %.2g m)"
       % (label, len(want), srs, worst), se)


def proj_string(srs):
    rc, so, _ = sh(["projinfo", srs, "-o", "PROJ", "-q"])
    return [t for t in so.split() if not t.startswith(("+type", "+towgs84", "+no_defs"))]


def check_ground_size(label, out, plan, tol_m):
    fp = footprints(out)
    tile_m = float(re.match(r"([\d.]+) m", plan["tile"]).group(1))
    pstr = proj_string(work_srs(plan))
    keys = sorted(fp)
    centres = "".join("%.9f %.9f\n" % (fp[k][0]["center_lon"], fp[k][0]["center_lat"]) for k in keys)
    rc1, so, _ = sh(["proj", "-S"] + pstr, centres)
    ks = [float(re.search(r"<([\d.eE+-]+)", l).group(1)) for l in so.splitlines() if "<" in l]
    geo = ""
    for k in keys:
        r = fp[k][1]  # UL, LL, LR, UR
        geo += "%.10f %.10f %.10f %.10f\n" % (r[0][1], r[0][0], r[3][1], r[3][0])  # UL -> UR (top edge)
        geo += "%.10f %.10f %.10f %.10f\n" % (r[0][1], r[0][0], r[1][1], r[1][0])  # UL -> LL (left edge)
    rc2, so, se = sh(["geod", "+ellps=WGS84", "-I", "-f", "%.6f", "+units=m"], geo)
    d = [float(l.split()[2]) for l in so.splitlines() if l.strip()]
    worst = 0.0
    for i in range(len(keys)):
        if i < len(ks) and 2 * i + 1 < len(d):
            worst = max(worst, abs(d[2 * i] - tile_m / ks[i]), abs(d[2 * i + 1] - tile_m / ks[i]))
    ok(rc1 == 0 and rc2 == 0 and len(ks) == len(keys) and len(d) == 2 * len(keys) and worst <= tol_m,
       "%s: %d tiles are %g m / k on the ground (geod), k from proj -S (%.4f..%.4f); worst %.4f m"
       % (label, len(keys), tile_m, min(ks or [0]), max(ks or [0]), worst), se)
    return d


def main():
    for tool in ("gdalwarp", "gdaltransform", "geod", "proj", "projinfo"):
        if not shutil.which(tool):
            skip("tiles checked against GDAL/PROJ tools", "%s not installed (gdal-bin / proj-bin)" % tool)
            print("1..%d" % count)
            return 0
    if not os.path.exists(HRO + ".tif"):
        skip("tiles checked against GDAL/PROJ tools", "shared/data/rasters not found")
        print("1..%d" % count)
        return 0
    shutil.rmtree(TMP, ignore_errors=True)
    os.makedirs(TMP)
    small = ["--tile-m", "16", "--gsd-m", "0.25"]

    # 1. striped HRO vs its tiled COG twin (JPEG): same footprints, close pixels.
    rc1, plan, base = tiles(HRO + ".tif", "hro", *small, "--max-nodata", "1")
    rc2, _, cog = tiles(os.path.join(DATA, "cog_rgb.tif"), "cog", *small, "--max-nodata", "1")
    ok(rc1 == 0 and rc2 == 0, "HRO striped and COG twin tiled")
    fb, fc = footprints(base), footprints(cog)
    ok(len(fb) == 28 and fb == fc, "COG twin: the same 28 footprints, attributes and windows, exactly")
    worst_mean, worst_max = 0.0, 0
    for k in fb:
        a, _, _ = tile_array(base, fb[k][0])
        b, _, _ = tile_array(cog, fc[k][0])
        worst_mean = max(worst_mean, float(np.abs(a - b).mean()))
        worst_max = max(worst_max, int(np.abs(a - b).max()))
    ok(worst_mean <= 4.0, "COG twin: pixels within the JPEG loss: mean |diff| <= 4 per tile (worst mean %.2f, "
       "max %d)" % (worst_mean, worst_max))

    # 2. alpha / mask / nodata: same footprints; skipped = what gdalwarp -dstalpha says.
    for v in ("alpha", "mask", "nodata"):
        src = "%s_%s.tif" % (HRO, v)
        rc, p, out = tiles(src, "all_" + v, *small, "--max-nodata", "1")
        fa = footprints(out)
        same = rc == 0 and {k: (a["center_lon"], a["center_lat"], a["win_xoff"], a["win_yoff"], a["win_xsize"],
                                a["win_ysize"], r) for k, (a, r) in fa.items()} == \
            {k: (a["center_lon"], a["center_lat"], a["win_xoff"], a["win_yoff"], a["win_xsize"], a["win_ysize"], r)
             for k, (a, r) in fb.items()}
        ok(same, "%s variant: the same 28 footprints and windows as the base file" % v)
        rc, p, out = tiles(src, "def_" + v, *small)
        kept = set(footprints(out)) if rc == 0 else set()
        want, shares = set(), {}
        for k, (a, r) in fb.items():
            _, gt, n = tile_array(base, a)
            _, alpha = gdalwarp_tile(src, "EPSG:26913", gt, n, wo_scale(p))
            share = alpha.mean() / 255.0
            shares[k] = share
            if 1 - share <= 0.5:
                want.add(k)
        ok(rc == 0 and kept == want, "%s variant: keeps exactly the %d tiles gdalwarp -dstalpha finds >= 50%% valid "
           "(skips %d)" % (v, len(want), 28 - len(want)), "kept %s want %s" % (sorted(kept), sorted(want)))
        fk = footprints(out) if rc == 0 else {}
        diff = max([abs(fk[k][0]["valid_share"] - shares[k]) for k in fk] or [1])
        ok(diff < 1e-9, "%s variant: valid_share = mean(gdalwarp alpha) / 255 (max |diff| %.2g)" % (v, diff))

    # 3. pixels = gdalwarp for the same window; 4. footprints = gdaltransform.
    check_gdalwarp("HRO (EPSG:26913)", HRO + ".tif", base, plan, 28, True)
    check_gdaltransform("HRO", base, plan)
    rc, pft, ft = tiles(os.path.join(DATA, "hro_colorado_stateplane_ftUS.tif"), "ft", *small)
    ok(rc == 0 and work_srs(pft) == "EPSG:26913", "US-feet raster (EPSG:2232) tiled in EPSG:26913")
    check_gdalwarp("US-feet raster", os.path.join(DATA, "hro_colorado_stateplane_ftUS.tif"), ft, pft, 10, False)
    check_gdaltransform("US-feet raster", ft, pft)
    l7 = os.path.join(DATA, "L7_ETMs.tif")
    rc, pl7, l7o = tiles(l7, "l7", "--tile-m", "1140", "--gsd-m", "28.5")
    ok(rc == 0 and work_srs(pl7) == "EPSG:31985", "L7 SIRGAS 2000 / UTM 25S tiled in its own CRS")
    check_gdalwarp("L7 (EPSG:31985)", l7, l7o, pl7, 8, True)
    check_gdaltransform("L7", l7o, pl7)
    naip = os.path.join(DATA, "m_4709963_se_14_1_20090818.tif")
    rc, pn, no = tiles(naip, "naip09", "--tile-m", "320", "--gsd-m", "5")
    ok(rc == 0, "NAIP 2009 tiled at its own 5 m")
    check_gdalwarp("NAIP RGBN (bands 1-3 via VRT)", naip, no, pn, 8, True)
    rot = os.path.join(TMP, "rotated.tif")
    gdal.Translate(rot, HRO + ".tif")
    ds = gdal.Open(rot, gdal.GA_Update)
    a, p_ = math.radians(20), 0.15
    ds.SetGeoTransform([519467.5, p_ * math.cos(a), p_ * math.sin(a), 4311669.77, p_ * math.sin(a),
                        -p_ * math.cos(a)])
    ds = None
    rc, prot, roto = tiles(rot, "rot", *small)
    ok(rc == 0 and "rotated" in prot.get("geotransform", ""), "rotated geotransform: tiled, reported as rotated")
    check_gdalwarp("rotated raster", rot, roto, prot, 8, True)
    merc = os.path.join(TMP, "hro_3857.tif")
    gdal.Warp(merc, HRO + ".tif", dstSRS="EPSG:3857", resampleAlg="bilinear")
    rc, pm, mo = tiles(merc, "merc", *small)
    ok(rc == 0 and work_srs(pm) == "EPSG:32613", "Web Mercator raster tiled in EPSG:32613, not in EPSG:3857")
    check_gdalwarp("Web Mercator raster", merc, mo, pm, 8, False)
    check_gdaltransform("Web Mercator raster", mo, pm)

    # 5. true ground size (geodesics), every tile.
    check_ground_size("HRO (UTM 13N metres)", base, plan, 0.01)
    check_ground_size("US-feet raster", ft, pft, 0.01)
    check_ground_size("L7 SIRGAS 2000 / UTM 25S", l7o, pl7, 0.02)
    d = check_ground_size("Web Mercator raster", mo, pm, 0.01)
    ok(d and min(d) > 15.9, "Web Mercator: tiles are 16 m on the ground, not 16 / 1.29 = 12.4 m (min %.3f m)"
       % min(d or [0]))

    # 6. two NAIP dates, pixel grids shifted by (+2 m, +1 m): shared tile positions.
    rc, _, n18 = tiles(os.path.join(DATA, "m_4709963_se_14_1_20180716.tif"), "naip18", "--tile-m", "320",
                       "--gsd-m", "5", "--format", "none")
    f09, f18 = footprints(no), footprints(n18)
    common = set(f09) & set(f18)
    ok(rc == 0 and len(common) > 600 and all(f09[k][1] == f18[k][1] for k in common),
       "NAIP 2009 and 2018 (grids shifted by 2 m, 1 m): %d tiles at identical positions" % len(common))

    print("1..%d" % count)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
