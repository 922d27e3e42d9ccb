"""Read and write transgeo model files (safetensors, "transgeo-safetensors-1").

Written with struct + json + hashlib + numpy only: the Python `safetensors`
package is not available here, and the layout we need is simple.

Layout (see TEAM_NOTES "Model file format" and DESIGN.md section 3):

    u64 little-endian N | N bytes of JSON header | data section

* The header is a JSON object: "__metadata__" -> {str: str} and, for every
  tensor, name -> {"dtype": "F32", "shape": [...], "data_offsets": [b, e]}.
  Offsets are relative to the start of the data section.
* Tensors are stored contiguously in sorted-name order, as the safetensors
  specification requires (Hugging Face's loader refuses gaps), so the files
  open with the standard safetensors tools too.  The header is padded with
  spaces so that the data section starts at a 64-byte aligned file offset;
  every float32 tensor is then at least 4-byte aligned in an mmap.  (The C
  reader also accepts gaps between tensors, which the format allows.)
* All __metadata__ values are strings.  "sha256" is the hex SHA-256 of the
  whole data section (every byte after the header).

Public functions:
    write_safetensors(path, tensors, metadata)   tensors: {name: array-like}
    read_safetensors(path, verify=True) -> (tensors {name: np.ndarray}, metadata)
    read_header(path) -> (header dict, data_start)
    data_sha256(path) -> hex digest of the data section
"""

import hashlib
import json
import os
import struct

import numpy as np

FORMAT = "transgeo-safetensors-1"
ALIGN = 64

_DTYPES = {"F32": np.dtype("<f4")}


class SafetensorsError(Exception):
    """A model file that cannot be read or does not follow the format."""


def _align(n, a=ALIGN):
    return (n + a - 1) // a * a


def _as_f32(name, value):
    """C-ordered little-endian float32 numpy array for a tensor value."""
    if hasattr(value, "detach"):  # torch.Tensor, without importing torch here
        value = value.detach().cpu().numpy()
    arr = np.asarray(value)
    if arr.dtype != np.float32:
        raise SafetensorsError("tensor '%s': dtype %s, only float32 is written"
                               % (name, arr.dtype))
    return np.ascontiguousarray(arr, dtype="<f4")


def _layout(arrays):
    """(name, array, begin, end) in sorted-name order, contiguous."""
    out = []
    pos = 0
    for name in sorted(arrays):
        arr = arrays[name]
        begin = pos
        end = begin + arr.nbytes
        out.append((name, arr, begin, end))
        pos = end
    return out, pos


def write_safetensors(path, tensors, metadata):
    """Write `tensors` ({name: float32 array or torch tensor}) and `metadata`
    ({str: str}; "format" and "sha256" are filled in here) to `path`.

    The file is written to PATH.tmp and renamed, so a failure never leaves a
    partial model behind.  Memory stays bounded: one tensor's bytes at a time.
    Returns the sha256 hex digest of the data section.
    """
    for k, v in metadata.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise SafetensorsError("metadata %r=%r: keys and values must be strings" % (k, v))
    if "__metadata__" in tensors:
        raise SafetensorsError("'__metadata__' is not a valid tensor name")
    arrays = {name: _as_f32(name, t) for name, t in tensors.items()}
    layout, data_len = _layout(arrays)

    # Pass 1: hash the data section exactly as it will be written.
    h = hashlib.sha256()
    pos = 0
    for _name, arr, begin, end in layout:
        if begin > pos:
            h.update(b"\0" * (begin - pos))
        h.update(arr.tobytes())
        pos = end
    digest = h.hexdigest()

    meta = dict(metadata)
    meta.setdefault("format", FORMAT)
    meta["sha256"] = digest
    header = {"__metadata__": meta}
    for name, arr, begin, end in layout:
        header[name] = {"dtype": "F32", "shape": list(arr.shape),
                        "data_offsets": [begin, end]}
    hjson = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    # Pad with spaces (valid JSON whitespace) so that 8 + N is 64-aligned.
    n = _align(8 + len(hjson)) - 8
    hjson += b" " * (n - len(hjson))

    tmp = path + ".tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(struct.pack("<Q", n))
            f.write(hjson)
            pos = 0
            for _name, arr, begin, end in layout:
                if begin > pos:
                    f.write(b"\0" * (begin - pos))
                f.write(arr.tobytes())
                pos = end
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return digest


def read_header(path):
    """Return (header dict, absolute offset of the data section).

    Checks the framing only: header length within the file, valid UTF-8 JSON
    object, metadata values all strings."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) < 8:
            raise SafetensorsError("'%s': file is %d bytes, shorter than the 8-byte header length"
                                   % (path, size))
        (n,) = struct.unpack("<Q", raw)
        if n > size - 8:
            raise SafetensorsError("'%s': header length %d runs past the end of the file (%d bytes): truncated?"
                                   % (path, n, size))
        hbytes = f.read(n)
    try:
        header = json.loads(hbytes.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise SafetensorsError("'%s': header is not valid JSON: %s" % (path, e))
    if not isinstance(header, dict):
        raise SafetensorsError("'%s': header is not a JSON object" % path)
    meta = header.get("__metadata__", {})
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise SafetensorsError("'%s': __metadata__ values must all be strings" % path)
    return header, 8 + n


def data_sha256(path):
    """Hex SHA-256 of the data section (everything after the header)."""
    _header, start = read_header(path)
    h = hashlib.sha256()
    with open(path, "rb") as f:
        f.seek(start)
        while True:
            block = f.read(1 << 20)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


def read_safetensors(path, verify=True):
    """Return ({name: np.ndarray float32}, metadata dict).

    With verify=True: every tensor is F32, its byte range matches its shape,
    lies inside the data section, starts 64-byte aligned and does not overlap
    another; the data section starts 64-byte aligned; the metadata sha256 (if
    present) matches the data section."""
    header, start = read_header(path)
    size = os.path.getsize(path)
    data_len = size - start
    meta = header.get("__metadata__", {})
    entries = sorted(((k, v) for k, v in header.items() if k != "__metadata__"),
                     key=lambda kv: kv[1].get("data_offsets", [0, 0])[0] if isinstance(kv[1], dict) else 0)
    if verify and start % ALIGN:
        raise SafetensorsError("'%s': data section starts at byte %d, not %d-byte aligned"
                               % (path, start, ALIGN))
    tensors = {}
    prev_end = 0
    with open(path, "rb") as f:
        for name, info in entries:
            if not isinstance(info, dict):
                raise SafetensorsError("'%s': tensor '%s': entry is not an object" % (path, name))
            dtype = info.get("dtype")
            shape = info.get("shape")
            offs = info.get("data_offsets")
            if dtype not in _DTYPES:
                raise SafetensorsError("'%s': tensor '%s': dtype %r, expected F32" % (path, name, dtype))
            if (not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape)
                    or not isinstance(offs, list) or len(offs) != 2
                    or not all(isinstance(o, int) for o in offs)):
                raise SafetensorsError("'%s': tensor '%s': bad shape or data_offsets" % (path, name))
            b, e = offs
            nbytes = int(np.prod(shape, dtype=np.int64)) * 4
            if e - b != nbytes:
                raise SafetensorsError("'%s': tensor '%s': data_offsets [%d,%d] hold %d bytes, shape %s needs %d"
                                       % (path, name, b, e, e - b, shape, nbytes))
            if b < prev_end or e > data_len:
                raise SafetensorsError("'%s': tensor '%s': data_offsets [%d,%d] overlap or run past the data section (%d bytes): truncated?"
                                       % (path, name, b, e, data_len))
            if b % 4:
                raise SafetensorsError("'%s': tensor '%s': offset %d is not a multiple of 4 (float32)"
                                       % (path, name, b))
            prev_end = e
            f.seek(start + b)
            buf = f.read(nbytes)
            tensors[name] = np.frombuffer(buf, dtype=_DTYPES[dtype]).reshape(shape).astype(np.float32)
    if verify and "sha256" in meta:
        got = data_sha256(path)
        if got != meta["sha256"]:
            raise SafetensorsError("'%s': data section sha256 %s does not match the header's %s: corrupt file"
                                   % (path, got, meta["sha256"]))
    return tensors, dict(meta)
