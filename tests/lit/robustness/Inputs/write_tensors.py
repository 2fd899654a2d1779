"""Writes a safetensors file of int64 tensors for the robustness tests.

usage: write_tensors.py OUT NAME=v,v,...[:AxB] ...   (shape defaults to [1, count])
"""
import json
import struct
import sys


def main():
    out, specs = sys.argv[1], sys.argv[2:]
    header, data = {}, b""
    for spec in specs:
        name, rest = spec.split("=", 1)
        values, _, shape = rest.partition(":")
        ints = [int(v) for v in values.split(",")]
        dims = [int(d) for d in shape.split("x")] if shape else [1, len(ints)]
        payload = struct.pack("<%dq" % len(ints), *ints)
        header[name] = {"dtype": "I64", "shape": dims,
                        "data_offsets": [len(data), len(data) + len(payload)]}
        data += payload
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(out, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)


if __name__ == "__main__":
    main()
