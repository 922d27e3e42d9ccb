#!/usr/bin/python3
"""tests/fuzz/make_seeds.py - (re)make the seed corpora of the fuzz harnesses
and the fixtures of fuzz_sql, from the repository's own files and
../shared/data. Run from the source tree root with Debian's python3 (GDAL,
numpy) and exiftool installed:

    /usr/bin/python3 tests/fuzz/make_seeds.py [SHARED_DATA]

Writes tests/fuzz/corpus/<harness>/seed_* and tests/fuzz/data/*; every file
is small (the biggest are the shared photos, <= 66 KB). The outputs are
committed: the corpora are replayed by `make check` without this script.
"""

import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np
from osgeo import gdal, osr

gdal.UseExceptions()
TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SHARED = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(TOP, "..", "shared", "data"))
FUZZ = os.path.join(TOP, "tests", "fuzz")
TINY = os.path.join(TOP, "tests", "golden", "tiny", "model.safetensors")
NAIP = os.path.join(SHARED, "rasters", "m_4709963_se_14_1_20180716.tif")
FTUS = os.path.join(SHARED, "rasters", "hro_colorado_stateplane_ftUS.tif")


def out(harness, name, data):
    d = os.path.join(FUZZ, "corpus", harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed_" + name), "wb") as f:
        f.write(data)


# ---- safetensors / model ----------------------------------------------------

def st_bytes(header, data=b"", pad_to=8):
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((-(8 + len(h))) % pad_to)
    return struct.pack("<Q", len(h)) + h + data


def read_st(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    return json.loads(b[8:8 + n]), b[8 + n:]


def model_seeds():
    hdr, data = read_st(TINY)
    full = open(TINY, "rb").read()
    n = struct.unpack("<Q", full[:8])[0]
    # container harness: the tiny model's header with the start of its data
    out("safetensors", "tiny_head", full[:8 + n + 256])
    f32 = np.arange(6, dtype="<f4").tobytes()
    out("safetensors", "small", st_bytes({"__metadata__": {"a": "b"},
                                          "x": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}}, f32))
    out("safetensors", "scalar_empty", st_bytes({"s": {"dtype": "F32", "shape": [], "data_offsets": [0, 4]},
                                                 "z": {"dtype": "F32", "shape": [0, 5], "data_offsets": [4, 4]}},
                                                f32[:4]))
    out("safetensors", "misaligned", st_bytes({"x": {"dtype": "F32", "shape": [3], "data_offsets": [1, 13]}},
                                              b"\0" + f32[:12], pad_to=1))
    out("safetensors", "gap_f16", st_bytes({"a": {"dtype": "F16", "shape": [2], "data_offsets": [0, 4]},
                                            "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}},
                                           f32[:12]))
    # model harness: headers only (the harness pads the data section with zeros)
    def model(name, edit):
        h = json.loads(json.dumps(hdr))
        edit(h)
        out("model", name, st_bytes(h, b"", pad_to=64))
    model("tiny", lambda h: None)

    def drop(prefix):
        def f(h):
            for k in [k for k in h if k.startswith(prefix)]:
                del h[k]
        return f

    def nozoom(h):
        drop("aerial_scan.")(h)
        h["__metadata__"].update(zoom="0", zoom_hw=h["__metadata__"]["aerial_hw"], crop_ratio="1")
        for net in ("aerial",):  # aerial net now runs at aerial_hw = 64x64: 4x4 grid
            pe = h[net + ".pos_embed"]
            pe["shape"] = [1, 2 + 16, 32]
            pe["data_offsets"][1] = pe["data_offsets"][0] + 4 * 18 * 32
    model("nozoom", nozoom)

    def selfscan(h):
        drop("aerial_scan.")(h)
        h["__metadata__"].update(zoom="0", zoom_fallback="self")
    model("selfscan", selfscan)

    def cls_only(h):
        h["__metadata__"]["tokens"] = "cls"
        for k in list(h):
            if k.endswith(".dist_token") or ".head_dist." in k:
                del h[k]
            elif k.endswith(".pos_embed"):
                s = h[k]["shape"]
                s[1] -= 1
                h[k]["data_offsets"][1] = h[k]["data_offsets"][0] + 4 * s[0] * s[1] * s[2]
    model("cls", cls_only)
    model("ground_only", lambda h: (drop("aerial")(h), h["__metadata__"].update(zoom="0")))

    def out12(h):
        h["__metadata__"]["out_dim"] = "12"
        for k in h:
            if ".head" in k:
                s = h[k]["shape"]
                s[0] = 12
                e = 4 * int(np.prod(s))
                h[k]["data_offsets"][1] = h[k]["data_offsets"][0] + e
    model("out12", out12)
    model("vit_arch", lambda h: h["__metadata__"].update(arch="vit"))


# ---- photos -----------------------------------------------------------------

def photo_seeds(tmp):
    for f in ("adobe_coords.jpg", "corrupt_exif.jpg", "corrupt_exif_2.jpg", "corrupt_exif_large_thumbnail.jpg",
              "corrupt_exif_trusted_wrong_type.jpg", "corrupt_exif_wrong_type.jpg", "empty_exif.jpg",
              "fixed_exif.jpg", "fixed_exif_2.jpg", "test_exif.jpg"):
        out("photo", f, open(os.path.join(SHARED, "photos", f), "rb").read())
    rgb = (np.indices((12, 16)).sum(axis=0) * 9 % 256).astype(np.uint8)
    mem = gdal.GetDriverByName("MEM").Create("", 16, 12, 3, gdal.GDT_Byte)
    for b in range(3):
        mem.GetRasterBand(b + 1).WriteArray((rgb + 60 * b) % 256)
    made = {}
    for drv, ext, opts in (("JPEG", "jpg", []), ("PNG", "png", []), ("WEBP", "webp", ["LOSSLESS=YES"]),
                           ("GTiff", "tif", []), ("BMP", "bmp", []), ("GIF", "gif", [])):
        p = os.path.join(tmp, "p." + ext)
        src = mem
        if drv == "GIF":
            src = gdal.GetDriverByName("MEM").Create("", 16, 12, 1, gdal.GDT_Byte)
            src.GetRasterBand(1).WriteArray(rgb)
        gdal.GetDriverByName(drv).CreateCopy(p, src, options=opts)
        made[ext] = p
    gps = ["-GPSLatitude=47.0123", "-GPSLatitudeRef=N", "-GPSLongitude=99.1234", "-GPSLongitudeRef=W",
           "-GPSAltitude=512.5", "-GPSAltitudeRef=1", "-GPSImgDirection=271.5", "-GPSImgDirectionRef=T",
           "-Orientation#=6", "-XMP-GPano:ProjectionType=equirectangular", "-XMP-GPano:PoseHeadingDegrees=12.5"]
    for ext in ("jpg", "png", "webp", "tif"):
        subprocess.run(["exiftool", "-q", "-overwrite_original"] + gps + [made[ext]], check=True)
        out("photo", "gps." + ext, open(made[ext], "rb").read())
    for ext in ("bmp", "gif"):
        out("photo", "plain." + ext, open(made[ext], "rb").read())
    # grey 1-bit and 16-bit PNGs
    g = gdal.GetDriverByName("MEM").Create("", 9, 7, 1, gdal.GDT_UInt16)
    g.GetRasterBand(1).WriteArray((np.indices((7, 9)).sum(axis=0) * 5000).astype(np.uint16))
    p = os.path.join(tmp, "g16.png")
    gdal.GetDriverByName("PNG").CreateCopy(p, g)
    out("photo", "grey16.png", open(p, "rb").read())
    g = gdal.GetDriverByName("MEM").Create("", 9, 7, 1, gdal.GDT_Byte)
    g.GetRasterBand(1).WriteArray((np.indices((7, 9)).sum(axis=0) % 2).astype(np.uint8))
    p = os.path.join(tmp, "g1.png")
    gdal.GetDriverByName("PNG").CreateCopy(p, g, options=["NBITS=1"])
    out("photo", "grey1.png", open(p, "rb").read())
    # Mapillary JSON in ImageDescription, XMP-only GPS
    p = os.path.join(tmp, "m.jpg")
    shutil.copy(made["jpg"], p)
    subprocess.run(["exiftool", "-q", "-overwrite_original", "-all=",
                    '-ImageDescription={"MAPLatitude": 47.5, "MAPLongitude": "-99.25", "MAPAltitude": 3, '
                    '"MAPCompassHeading": {"TrueHeading": 361.5}}', p], check=True)
    out("photo", "mapillary.jpg", open(p, "rb").read())
    p = os.path.join(tmp, "x.jpg")
    shutil.copy(made["jpg"], p)
    subprocess.run(["exiftool", "-q", "-overwrite_original", "-all=", "-XMP-exif:GPSLatitude=47,30.5S",
                    "-XMP-exif:GPSLongitude=99,15,30W", "-XMP-exif:GPSAltitude=136169/100",
                    "-XMP-tiff:Orientation#=3", p], check=True)
    out("photo", "xmp.jpg", open(p, "rb").read())
    return made["jpg"]


# ---- rasters ----------------------------------------------------------------

def raster_seeds(tmp):
    def tr(name, src, extra):
        p = os.path.join(tmp, name + ".tif")
        gdal.Translate(p, src, options=extra)
        for aux in (p + ".aux.xml",):
            if os.path.exists(aux):
                os.remove(aux)
        b = open(p, "rb").read()
        out("raster", name + ".tif", b)
        return p

    base = tr("naip16", NAIP, ["-srcwin", "100", "100", "16", "16"])
    tr("naip16_rgb_deflate", NAIP, ["-srcwin", "200", "300", "16", "16", "-b", "1", "-b", "2", "-b", "3",
                                    "-co", "COMPRESS=DEFLATE", "-co", "PHOTOMETRIC=RGB"])
    tr("naip16_tiled", NAIP, ["-srcwin", "100", "100", "32", "32", "-co", "TILED=YES", "-co", "BLOCKXSIZE=16",
                              "-co", "BLOCKYSIZE=16", "-b", "1", "-b", "2", "-b", "3"])
    tr("naip16_nodata", NAIP, ["-srcwin", "0", "0", "16", "16", "-a_nodata", "0", "-b", "1"])
    tr("naip16_uint16", NAIP, ["-srcwin", "50", "50", "16", "16", "-ot", "UInt16", "-scale", "0", "255", "0",
                               "4095", "-b", "1", "-b", "2", "-b", "3"])
    tr("naip16_alpha", NAIP, ["-srcwin", "60", "60", "16", "16", "-b", "1", "-b", "2", "-b", "3", "-b", "4",
                              "-colorinterp", "red,green,blue,alpha"])
    tr("geographic", NAIP, ["-srcwin", "10", "10", "16", "16", "-b", "1", "-a_srs", "EPSG:4326",
                            "-a_ullr", "-99.2", "47.1", "-99.19", "47.09"])
    tr("ftus", FTUS, ["-srcwin", "0", "0", "16", "16"])
    # not georeferenced
    p = os.path.join(tmp, "nogeo.tif")
    ds = gdal.GetDriverByName("GTiff").Create(p, 16, 16, 3, gdal.GDT_Byte)
    ds.GetRasterBand(1).Fill(100)
    ds = None
    out("raster", "nogeo.tif", open(p, "rb").read())
    # rotated geotransform, palette
    p = os.path.join(tmp, "rot.tif")
    gdal.Translate(p, base, options=["-b", "1"])
    ds = gdal.Open(p, gdal.GA_Update)
    gt = ds.GetGeoTransform()
    ds.SetGeoTransform((gt[0], 4.33, 2.5, gt[3], 2.5, -4.33))
    ct = gdal.ColorTable()
    for i in range(256):
        ct.SetColorEntry(i, (i, 255 - i, (3 * i) % 256, 255))
    ds.GetRasterBand(1).SetRasterColorTable(ct)
    ds = None
    out("raster", "rotated_palette.tif", open(p, "rb").read())
    return base


# ---- SQL calls ----------------------------------------------------------------
# Encoding (see fuzz_sql.c): a sequence of calls, each
#   fn:u8  argc:u8  then argc arguments  type:u8 + payload
#   0 NULL | 1 INTEGER i64 | 2 REAL f64 | 3 TEXT len:u8 bytes | 4 BLOB len:u16 bytes
#   5 fixture which:u8 (0 photo, 1 raster, 2 model, 3 embedding, 4 point lon:i8 lat:i8,
#                       5 tile footprint, 6 photo with one byte flipped at off:u16)
F = {"version": 0, "set": 1, "register": 2, "index": 3, "ground": 4, "aerial": 5, "gps": 6,
     "distance": 7, "locate": 8, "matches": 9}


def a_null(): return b"\0"
def a_int(v): return b"\1" + struct.pack("<q", v)
def a_real(v): return b"\2" + struct.pack("<d", v)
def a_text(s): s = s.encode(); return b"\3" + bytes([len(s)]) + s
def a_blob(b): return b"\4" + struct.pack("<H", len(b)) + b
def a_fix(w, *extra): return b"\5" + bytes([w]) + bytes(extra)


def call(fn, *args):
    return bytes([F[fn], len(args)]) + b"".join(args)


def sql_seeds():
    seeds = {
        "version": call("version"),
        "set_files_off": call("set", a_text("allow_files"), a_int(0)) + call("locate", a_text("p.jpg")),
        "set_threads": call("set", a_text("threads"), a_int(1)),
        "set_bad": call("set", a_text("batch_tiles"), a_int(0)) + call("set", a_int(3), a_text("x")),
        "register": call("register", a_text("m2"), a_text("m.safetensors")),
        "register_out12": call("register", a_text("m"), a_text("o.safetensors")) +
                          call("locate", a_fix(0)),
        "register_bad": call("register", a_text("m"), a_blob(b"\0\1")),
        "index": call("index", a_text("r.tif"), a_text("m"), a_real(40.0), a_real(24.0)),
        "index_bad": call("index", a_text("nope.tif")) + call("index", a_int(7), a_null(), a_real(-1.0)),
        "ground": call("ground", a_fix(0)),
        "ground_path": call("ground", a_text("p.jpg"), a_text("m")),
        "aerial": call("aerial", a_fix(1), a_text("m")),
        "aerial_bad": call("aerial", a_blob(b"\xff\xd8\xff\xe0garbage"), a_int(1)),
        "gps": call("gps", a_fix(0)) + call("gps", a_fix(6, 200, 0)),
        "gps_text": call("gps", a_text("p.jpg")),
        "distance": call("distance", a_fix(4, 10, 20), a_fix(5)),
        "distance_bad": call("distance", a_blob(b"\0\1\2"), a_real(1.5)),
        "locate": call("locate", a_fix(0)),
        "locate_emb": call("locate", a_fix(3), a_text("m")),
        "locate_model": call("locate", a_fix(0), a_text("nosuchmodel")),
        "matches": call("matches", a_fix(0), a_int(3)),
        "matches_near": call("matches", a_fix(3), a_int(5), a_fix(4, 0, 0), a_real(5000.0), a_text("m")),
        "matches_bad": call("matches", a_fix(0), a_int(-1)) + call("matches", a_fix(0), a_real(2.5),
                                                                     a_text("x"), a_int(1)),
        "index_then_locate": call("index", a_text("r.tif"), a_null(), a_int(64)) + call("locate", a_fix(0)),
    }
    for k, v in seeds.items():
        out("sql", k, v)


def main():
    tmp = tempfile.mkdtemp()
    try:
        model_seeds()
        photo_seeds(tmp)
        raster_seeds(tmp)
        sql_seeds()
        d = os.path.join(FUZZ, "data")
        os.makedirs(d, exist_ok=True)
        shutil.copy(os.path.join(SHARED, "photos", "fixed_exif.jpg"), os.path.join(d, "p.jpg"))
        # fuzz_sql's raster: 32x32 NAIP px (5 m) = 160 m, RGB
        gdal.Translate(os.path.join(d, "r.tif"), NAIP, options=["-srcwin", "300", "300", "32", "32",
                                                                "-b", "1", "-b", "2", "-b", "3"])
        if os.path.exists(os.path.join(d, "r.tif.aux.xml")):
            os.remove(os.path.join(d, "r.tif.aux.xml"))
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
