/*
 * exif.h - where and which way a photo was taken: GPS position, altitude,
 * heading, orientation and panorama projection, from EXIF, XMP and the
 * Mapillary JSON some apps store in ImageDescription.
 *
 *     tg_photo_meta m;
 *     if (tg_photo_meta_read(ctx, "IMG_0001.jpg", &m) != 0)
 *         fprintf(stderr, "%s\n", tg_errmsg(ctx));       // unreadable / not an image
 *     else if (!m.has_gps)
 *         puts("no GPS position");                        // not an error
 *     else
 *         printf("%.7f %.7f\n", m.lat_deg, m.lon_deg);
 *
 * Sources and precedence (the first source that has a valid value wins, per
 * item):
 *   position  1. EXIF GPS IFD: GPSLatitude/GPSLatitudeRef, GPSLongitude/Ref
 *             2. XMP exif:GPSLatitude / exif:GPSLongitude ("DDD,MM.mmmmK" or
 *                "DDD,MM,SSK"; K = N/S/E/W)
 *             3. Mapillary JSON in EXIF ImageDescription: MAPLatitude, MAPLongitude
 *   altitude  EXIF GPSAltitude/Ref > XMP exif:GPSAltitude/Ref > MAPAltitude
 *             (metres above sea level; ref 1 = below, negated)
 *   accuracy  EXIF GPSHPositioningError (metres) and GPSDOP, from the GPS IFD
 *             the position came from (absent otherwise; zero or negative
 *             values are absent): the per-photo prior's window (locate.h)
 *   heading   EXIF GPSImgDirection > XMP exif:GPSImgDirection >
 *             XMP GPano:PoseHeadingDegrees > Mapillary MAPCompassHeading.TrueHeading
 *             (degrees clockwise from north, normalised to [0, 360); heading_ref
 *             says 'T' true or 'M' magnetic when the source says so; magnetic
 *             headings are NOT converted)
 *   orientation  EXIF Orientation (IFD0) > XMP tiff:Orientation > 1
 *   projection   XMP GPano:ProjectionType ("equirectangular" sets is_panorama)
 *   camera    EXIF SubIFD (pointer 0x8769): FocalLengthIn35mmFilm, FocalLength,
 *             FocalPlaneX/YResolution + Unit, PixelX/YDimension (raw reader only;
 *             GDAL's EXIF_* text as fallback when the raw reader finds no EXIF);
 *             XMP GPano: FullPano*, CroppedArea*, PosePitch/RollDegrees. Read
 *             as stored; camera.h decides what they mean and checks them.
 * Conventions:
 *   - Hemisphere refs S and W make the value negative (-|v|); a missing or
 *     unreadable ref is taken as N / E (what exiftool and most readers do).
 *   - A position is valid when both values are finite, |lat| <= 90 and
 *     |lon| <= 180, GPSStatus is not 'V' (void), a rational does not have a
 *     zero denominator, and it is not exactly (0, 0) (cameras without a fix
 *     write zeros). Otherwise the next source is tried; with none, has_gps = 0.
 *   - EXIF is parsed from the raw bytes (JPEG APP1, TIFF/GeoTIFF IFD0, PNG
 *     eXIf, WebP EXIF): GDAL's EXIF_* metadata prints rationals with 6
 *     significant digits (GPSImgDirection 1212087/8192 = 147.9598389 comes
 *     out as "(147.96)"; a decimal-degree latitude 48081045/1000000 as
 *     "(48.081)", 5 m off), so GDAL's text is only a fallback when the raw
 *     reader finds no GPS IFD at all (BigTIFF; EXIF_* items GDAL keeps as
 *     plain GeoTIFF metadata). A value the raw reader saw and rejected stays
 *     rejected. The raw reader is bounds-checked and tolerant: wrong types
 *     (e.g. GPSAltitudeRef as RATIONAL), odd offsets, overlapping values,
 *     out-of-order entries, missing refs and GPSVersionID are all accepted;
 *     a value of the wrong kind (latitude as ASCII) or a zero denominator
 *     makes that value absent.
 *   - XMP comes from GDAL's "xml:XMP" metadata domain, parsed with GDAL's
 *     CPLParseXMLString; properties are matched by namespace URI (not prefix)
 *     and may be attributes of rdf:Description or child elements.
 *   - The Mapillary JSON is parsed with jansson; numbers or numeric strings.
 * Errors (tg_photo_meta_read*): TG_EINVAL, TG_EIO (missing/unreadable file),
 * TG_EIMAGE (empty, not an image): the same checks and messages as
 * tg_image_load. Missing or corrupt metadata is never an error: the fields
 * are just absent. *out is zeroed (orientation 1) first.
 */
#ifndef TG_EXIF_H
#define TG_EXIF_H

#include <stddef.h>

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Where a value came from (tg_photo_meta.pos_source / heading_source). */
enum {
    TG_META_NONE = 0,
    TG_META_EXIF = 1,      /* EXIF GPS IFD (raw bytes, or GDAL's EXIF_* as fallback) */
    TG_META_XMP = 2,       /* XMP exif:GPS* */
    TG_META_GPANO = 3,     /* XMP GPano:PoseHeadingDegrees */
    TG_META_MAPILLARY = 4  /* Mapillary JSON in ImageDescription */
};

typedef struct tg_photo_meta {
    int has_gps;           /* 1 if lat_deg/lon_deg hold a valid position */
    double lat_deg, lon_deg; /* WGS84 degrees, north/east positive */
    double alt_m;          /* metres above mean sea level (negative below) */
    int has_alt;           /* 1 if alt_m is set */
    int has_heading;       /* 1 if heading_deg is set */
    double heading_deg;    /* direction the camera points, degrees clockwise from north, [0, 360) */
    int orientation;       /* EXIF Orientation 1..8 (1 when absent or invalid) */
    int is_panorama;       /* 1 for a GPano equirectangular panorama */
    char projection[32];   /* GPano:ProjectionType ("equirectangular", ...), "" if none */
    /* additions to the agreed struct (appended, so existing code is unaffected): */
    char heading_ref;      /* 'T' true north, 'M' magnetic north, 0 unknown */
    int pos_source;        /* TG_META_*: where lat/lon came from (0 if has_gps == 0) */
    int heading_source;    /* TG_META_*: where heading_deg came from (0 if none) */
    /* the camera (read by camera.h; each 0 when absent): */
    int has_focal35;       /* 1: EXIF FocalLengthIn35mmFilm (0xA405) is present */
    double focal35_mm;     /* its value, mm (0 = "unknown" per EXIF 2.32) */
    double focal_mm;       /* EXIF FocalLength (0x920A), mm; 0 when absent */
    double fp_xres, fp_yres; /* EXIF FocalPlaneX/YResolution (0xA20E/0xA20F): pixels per
                              fp_unit on the sensor; 0 when absent */
    int fp_unit;           /* FocalPlaneResolutionUnit (0xA210): 2 inch (default when the
                              resolutions are present without it), 3 cm, 4 mm, 5 um */
    int exif_w, exif_h;    /* EXIF PixelX/YDimension (0xA002/0xA003), px, as stored
                              (before Orientation) */
    int has_gpano_size;    /* 1: the four GPano sizes below were all read */
    int gpano_full_w, gpano_full_h; /* GPano:FullPanoWidth/HeightPixels */
    int gpano_crop_w, gpano_crop_h; /* GPano:CroppedAreaImageWidth/HeightPixels */
    int gpano_left, gpano_top;      /* GPano:CroppedAreaLeft/TopPixels (0 when absent) */
    int has_pose_pitch, has_pose_roll; /* 1: GPano:PosePitchDegrees / PoseRollDegrees read */
    double pose_pitch_deg, pose_roll_deg; /* degrees (up / clockwise positive, GPano) */

    /* the fix's stated accuracy (raw EXIF GPS IFD only, with a position from it): */
    int has_hpe;           /* 1 if hpe_m is set */
    double hpe_m;          /* GPSHPositioningError (tag 0x1F), metres, > 0 */
    int has_dop;           /* 1 if dop is set */
    double dop;            /* GPSDOP (tag 0x0B), dilution of precision, > 0 */
} tg_photo_meta;

/* Read the metadata of the image file at path (a GDAL path). [out] *out. */
TG_API int tg_photo_meta_read(tg_ctx *ctx, const char *path, tg_photo_meta *out);
/* The same for n bytes of an image file in memory (not copied nor kept). */
TG_API int tg_photo_meta_read_mem(tg_ctx *ctx, const void *buf, size_t n, tg_photo_meta *out);
/* "EXIF", "XMP", "GPano", "Mapillary" or "none" for a TG_META_* value. */
TG_API const char *tg_photo_meta_source_name(int source);


#ifdef __cplusplus
}
#endif
#endif /* TG_EXIF_H */
