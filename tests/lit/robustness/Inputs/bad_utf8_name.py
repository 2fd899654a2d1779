"""Writes a safetensors file whose one tensor name is not valid UTF-8.

usage: bad_utf8_name.py OUT
"""
import struct
import sys

header = b'{"bad\xff\xfename":{"dtype":"I64","shape":[1,1],"data_offsets":[0,8]}}'
header += b" " * (-len(header) % 8)
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<Q", len(header)) + header + bytes(8))
