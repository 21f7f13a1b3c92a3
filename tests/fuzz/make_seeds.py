#!/usr/bin/env python3
"""Writes the committed seed corpora of the fuzz harnesses (tests/fuzz/corpus/<harness>/):
a handful of valid and near-valid files per parser, each well under 64 KB. Standard library
only. The IDX seeds are the first test images and labels of Fashion-MNIST
(/usr/share/datasets/fashion-mnist, Debian's dataset-fashion-mnist); the rest is synthetic.

    python3 tests/fuzz/make_seeds.py            # rewrites tests/fuzz/corpus/
"""
import gzip
import os
import shutil
import struct
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus")
FMNIST = "/usr/share/datasets/fashion-mnist"
CONFIGS = os.path.join(HERE, "..", "..", "configs")


def write(harness, name, data):
    d = os.path.join(OUT, harness)
    os.makedirs(d, exist_ok=True)
    assert len(data) < 64 * 1024, (harness, name, len(data))
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def gz(data):
    # mtime=0: the same bytes every time the script runs.
    return gzip.compress(data, mtime=0)


# ---- IDX ---------------------------------------------------------------------------------
def idx_seeds():
    n = 3
    with gzip.open(os.path.join(FMNIST, "t10k-images-idx3-ubyte.gz")) as f:
        head = f.read(16)
        pixels = f.read(n * 28 * 28)
    with gzip.open(os.path.join(FMNIST, "t10k-labels-idx1-ubyte.gz")) as f:
        f.read(8)
        labels = f.read(10)
    assert struct.unpack(">I", head[:4])[0] == 0x803
    images = struct.pack(">IIII", 0x803, n, 28, 28) + pixels
    labels_file = struct.pack(">II", 0x801, len(labels)) + labels
    write("fuzz_idx", "images-3", images)
    write("fuzz_idx", "images-3.gz", gz(images))
    write("fuzz_idx", "labels-10", labels_file)
    write("fuzz_idx", "labels-10.gz", gz(labels_file))
    write("fuzz_idx", "images-truncated", images[:-100])
    write("fuzz_idx", "images-trailing.gz", gz(images + b"\0"))
    write("fuzz_idx", "labels-out-of-range", struct.pack(">II", 0x801, 2) + b"\x01\x0c")
    write("fuzz_idx", "images-small", struct.pack(">IIII", 0x803, 1, 2, 2) + b"\x00\x40\x80\xff")


# ---- CIFAR-10 ----------------------------------------------------------------------------
def cifar_record(label, seed):
    return bytes([label]) + bytes((seed * 7 + i * 13) % 256 for i in range(3 * 32 * 32))


def cifar_seeds():
    write("fuzz_cifar10", "one-record", cifar_record(3, 1))
    write("fuzz_cifar10", "two-records", cifar_record(0, 2) + cifar_record(9, 3))
    write("fuzz_cifar10", "bad-label", cifar_record(10, 4))
    write("fuzz_cifar10", "short", cifar_record(5, 5)[:-1])


# ---- SVHN (MATLAB level 5) ---------------------------------------------------------------
MI_INT8, MI_UINT8, MI_INT32, MI_UINT32, MI_DOUBLE, MI_MATRIX, MI_COMPRESSED = 1, 2, 5, 6, 9, 14, 15
MX_DOUBLE, MX_UINT8 = 6, 9


def pad8(b):
    return b + b"\0" * (-len(b) % 8)


def element(mi_type, data, small_ok=True):
    if small_ok and len(data) <= 4:  # the "small" tag: count in the high 16 bits
        return struct.pack("<HH", mi_type, len(data)) + data.ljust(4, b"\0")
    return struct.pack("<II", mi_type, len(data)) + pad8(data)


def matrix(name, mx_class, dims, mi_type, real):
    body = element(MI_UINT32, struct.pack("<II", mx_class, 0), small_ok=False)
    body += element(MI_INT32, struct.pack("<%di" % len(dims), *dims), small_ok=False)
    body += element(MI_INT8, name.encode())
    body += element(mi_type, real)
    return struct.pack("<II", MI_MATRIX, len(body)) + body


def compressed(elem):
    z = zlib.compress(elem)
    return struct.pack("<II", MI_COMPRESSED, len(z)) + z


def mat_header(version=0x0100, mark=b"IM"):
    text = b"MATLAB 5.0 MAT-file, memwrap fuzz seed".ljust(116, b" ")
    return text + b"\0" * 8 + struct.pack("<H", version) + mark


def svhn_x(n):
    # Column-major 32x32x3xN: image k's 3072 bytes are contiguous.
    px = bytes((k * 31 + i * 7) % 256 for k in range(n) for i in range(3072))
    dims = [32, 32, 3, n] if n > 1 else [32, 32, 3]
    return matrix("X", MX_UINT8, dims, MI_UINT8, px)


def svhn_y(labels, as_double=False):
    if as_double:
        return matrix("y", MX_DOUBLE, [len(labels), 1], MI_DOUBLE,
                      struct.pack("<%dd" % len(labels), *labels))
    return matrix("y", MX_DOUBLE, [len(labels), 1], MI_UINT8, bytes(labels))


def svhn_seeds():
    write("fuzz_svhn_mat", "plain-1", mat_header() + svhn_x(1) + svhn_y([10]))
    write("fuzz_svhn_mat", "plain-2-double-y", mat_header() + svhn_y([3, 1], True) + svhn_x(2))
    write("fuzz_svhn_mat", "compressed-3",
          mat_header() + compressed(svhn_x(3)) + compressed(svhn_y([1, 2, 10])))
    write("fuzz_svhn_mat", "v73-header", mat_header(0x0200) + svhn_x(1) + svhn_y([1]))
    write("fuzz_svhn_mat", "label-11", mat_header() + svhn_x(1) + svhn_y([11]))
    write("fuzz_svhn_mat", "truncated", (mat_header() + compressed(svhn_x(2)))[:-20])


# ---- PNG folders (CINIC-10) --------------------------------------------------------------
def png(width, height, color_type=2, depth=8, seed=0, palette=None):
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color_type]
    bpp = channels * depth // 8
    raw = b""
    for y in range(height):
        raw += b"\0" + bytes((seed + x * 5 + y * 3) % (len(palette) // 3 if palette else 256)
                             for x in range(width * bpp))

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))

    out = b"\x89PNG\r\n\x1a\n"
    out += chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 0))
    if palette:
        out += chunk(b"PLTE", palette)
    out += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    return out


def folder_entry(class_index, data, png_name=True):
    return bytes([class_index | (0 if png_name else 0x80)]) + struct.pack("<H", len(data)) + data


def png_seeds():
    ten = b"".join(folder_entry(c, png(32, 32, seed=c)) for c in range(10))
    write("fuzz_png_folders", "ten-classes-rgb", ten)
    palette = bytes(range(48))
    kinds = (folder_entry(0, png(32, 32, 0, 8, 1)) + folder_entry(1, png(32, 32, 6, 8, 2)) +
             folder_entry(2, png(32, 32, 3, 8, 3, palette)) + folder_entry(3, png(32, 32, 2, 16, 4)) +
             folder_entry(4, png(32, 32, 4, 8, 5)))
    write("fuzz_png_folders", "five-kinds", kinds + b"".join(
        folder_entry(c, png(32, 32, seed=c)) for c in range(5, 10)))
    write("fuzz_png_folders", "wrong-size", folder_entry(0, png(16, 32)))
    write("fuzz_png_folders", "not-png-name", folder_entry(0, b"hello", False) +
          folder_entry(1, png(32, 32)))
    write("fuzz_png_folders", "truncated", folder_entry(0, png(32, 32)[:-30]))


# ---- safetensors -------------------------------------------------------------------------
def safetensors(tensors, metadata=None, header_pad=0):
    header, blob = {}, b""
    for name, dtype, shape, data in tensors:
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [len(blob), len(blob) + len(data)]}
        blob += data
    if metadata is not None:
        header["__metadata__"] = metadata
    import json
    text = json.dumps(header, separators=(",", ":")).encode() + b" " * header_pad
    return struct.pack("<Q", len(text)) + text + blob


def st_seeds():
    f32 = struct.pack("<6f", 1, -2, 0.5, 3.25, 0, 1e-3)
    write("fuzz_safetensors", "f32-2x3",
          safetensors([("w", "F32", [2, 3], f32)], {"format": "pt"}, header_pad=3))
    write("fuzz_safetensors", "mixed", safetensors([
        ("a.f64", "F64", [2], struct.pack("<2d", 1.5, -7)),
        ("b.i32", "I32", [3], struct.pack("<3i", 1, -1, 7)),
        ("c.i64", "I64", [1, 2], struct.pack("<2q", 5, 1 << 40)),
        ("d.u8", "U8", [4], b"\x01\x02\x03\x04"),
        ("e.scalar", "F32", [], struct.pack("<f", 2)),
        ("f.empty", "F32", [0, 3], b""),
    ]))
    write("fuzz_safetensors", "offsets-mismatch",
          safetensors([("w", "F32", [2, 3], f32)])[:-4])
    write("fuzz_safetensors", "bad-dtype", safetensors([("w", "BF16", [3], b"\0" * 6)]))
    write("fuzz_safetensors", "header-too-long", struct.pack("<Q", 1 << 40) + b"{}")


# ---- program cache -----------------------------------------------------------------------
FUZZ_KEY = 0x6d656d7772617021  # fuzz_program_cache.c


def fnv1a(data):
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
    return h


def cache_entry(payload, version=1, key=FUZZ_KEY, checksum=None):
    return (b"MWPC" + struct.pack("<IQQQ", version, key, len(payload),
                                  fnv1a(payload) if checksum is None else checksum) + payload)


def cache_seeds():
    payload = b"\x7fELF fake device binary" + bytes(range(64))
    write("fuzz_program_cache", "good", cache_entry(payload))
    write("fuzz_program_cache", "bad-checksum", cache_entry(payload, checksum=1))
    write("fuzz_program_cache", "old-version", cache_entry(payload, version=0))
    write("fuzz_program_cache", "other-key", cache_entry(payload, key=1))
    write("fuzz_program_cache", "truncated", cache_entry(payload)[:-1])


# ---- configs and --set values ------------------------------------------------------------
def config_seeds():
    for sub, name in (("smoke", "fmnist-tiny.json"), ("smoke", "fmnist-custom-encoder.json"),
                      ("fmnist", "quick.json"), ("paper", "svhn.json")):
        with open(os.path.join(CONFIGS, sub, name), "rb") as f:
            write("fuzz_config", sub + "-" + name, f.read())
    with open(os.path.join(CONFIGS, "smoke", "fmnist-tiny.json"), "rb") as f:
        tiny = f.read()
    sets = [b"runs=2", b"optimizer.lr=0.05", b'train_examples=[100,"full"]',
            b"dataset.root=/data", b'dataset={"name":"cifar10"}', b"models=resnet18",
            b"schedule.milestones=[1]"]
    write("fuzz_config", "tiny-with-sets", tiny + b"".join(b"\0" + s for s in sets))
    write("fuzz_config", "minimal", b'{"dataset":{"name":"svhn"}}\0variants=memory\0memory_examples=5')
    write("fuzz_config", "bad-set", b'{"dataset":{"name":"mnist"}}\0epochs')


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    if not os.path.isdir(FMNIST):
        sys.exit("make_seeds.py: %s not found (Debian package dataset-fashion-mnist)" % FMNIST)
    idx_seeds()
    cifar_seeds()
    svhn_seeds()
    png_seeds()
    st_seeds()
    cache_seeds()
    config_seeds()


if __name__ == "__main__":
    main()
