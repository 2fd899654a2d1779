#!/usr/bin/env python3
"""Copies the named tensors of a safetensors file into a new one (standard library only).

usage: safetensors-subset.py <in.safetensors> <out.safetensors> NAME [NAME ...]
A name missing from the input is an error. Used by make-gpu-suite.sh to carry a
reference's few tensors instead of all of them.
"""
import json
import struct
import sys


def main(argv):
    if len(argv) < 4:
        sys.exit(__doc__)
    source, target, names = argv[1], argv[2], argv[3:]
    with open(source, "rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(size))
        base = 8 + size
        out, blobs, offset = {}, [], 0
        for name in names:
            if name not in header:
                sys.exit(f"{source} has no tensor '{name}'")
            info = header[name]
            begin, end = info["data_offsets"]
            f.seek(base + begin)
            blobs.append(f.read(end - begin))
            out[name] = {"dtype": info["dtype"], "shape": info["shape"],
                         "data_offsets": [offset, offset + end - begin]}
            offset += end - begin
    text = json.dumps(out).encode()
    text += b" " * (-len(text) % 8)
    with open(target, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


if __name__ == "__main__":
    main(sys.argv)
