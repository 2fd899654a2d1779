"""Malformed safetensors files: as a model's checkpoint (import) and as the inputs of
`loom reference`."""
import json
import os
import struct


def encode(header, data=b"", length=None):
    """A safetensors file: the 8-byte length, `header` (a dict or raw bytes), `data`."""
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(text) if length is None else length) + text + data


def ids(values, dtype="I64", shape=None):
    """A one-tensor input file of `values` as input_ids."""
    payload = struct.pack("<%dq" % len(values), *values)
    return encode({"input_ids": {"dtype": dtype, "shape": shape or [1, len(values)],
                                 "data_offsets": [0, len(payload)]}}, payload)


def tensor(dtype="F32", shape=(2,), offsets=(0, 8), name="w"):
    return {name: {"dtype": dtype, "shape": list(shape), "data_offsets": list(offsets)}}


# (name, file bytes, what stderr must say)
BROKEN = [
    ("empty", b"", r"safetensors|too short|8 bytes|header"),
    ("short-prefix", b"\x05\x00\x00", r"too short|8 bytes|header"),
    ("length-beyond-file", encode(b"{}", length=1000), r"header|length|beyond|larger"),
    ("length-huge", encode(b"{}", length=2**63), r"header|length|larger|limit"),
    ("length-zero", encode(b"", length=0), r"header|JSON|empty"),
    ("not-json", encode(b"not json"), r"does not start with '{'"),
    ("json-array", encode(b"[1, 2]"), r"does not start with '{'"),
    ("json-number-values", encode(b'{"w": 5}'), r"tensor 'w'|object"),
    ("truncated-json", encode(b'{"w": {"dtype": "F32"'), r"JSON"),
    ("bad-dtype", encode(tensor(dtype="F33"), bytes(8)), r"dtype|F33"),
    ("dtype-number", encode({"w": {"dtype": 5, "shape": [2], "data_offsets": [0, 8]}},
                            bytes(8)), r"dtype"),
    ("shape-negative", encode(tensor(shape=(-2,)), bytes(8)), r"shape"),
    ("shape-float", encode({"w": {"dtype": "F32", "shape": [2.5], "data_offsets": [0, 8]}},
                           bytes(8)), r"shape"),
    ("shape-not-array", encode({"w": {"dtype": "F32", "shape": 2, "data_offsets": [0, 8]}},
                               bytes(8)), r"shape"),
    ("shape-overflow", encode(tensor(shape=(2**62, 2**62)), bytes(8)), r"shape|overflow|bytes"),
    ("size-mismatch", encode(tensor(shape=(3,)), bytes(8)), r"bytes|shape|size"),
    ("offsets-reversed", encode(tensor(offsets=(8, 0)), bytes(8)), r"offset"),
    ("offsets-beyond", encode(tensor(offsets=(0, 800)), bytes(8)), r"offset|beyond|bytes|size"),
    ("offsets-missing", encode({"w": {"dtype": "F32", "shape": [2]}}, bytes(8)), r"data_offsets"),
    ("offsets-three", encode(tensor(offsets=(0, 4, 8)), bytes(8)), r"data_offsets|offset"),
    ("offsets-negative", encode(tensor(offsets=(-8, 0)), bytes(8)), r"offset"),
    ("overlap", encode({**tensor(name="a", offsets=(0, 8)), **tensor(name="b", offsets=(4, 12))},
                       bytes(12)), r"overlap"),
    ("gap", encode({**tensor(name="a", offsets=(0, 8)), **tensor(name="b", offsets=(12, 20))},
                   bytes(20)), r"bytes before|gap|cover"),
    ("trailing-bytes", encode(tensor(), bytes(16)), r"after the last tensor|cover"),
    ("duplicate-name", encode(b'{"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},'
                              b' "w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}',
                              bytes(8)), r"duplicate|twice|w"),
    ("empty-name", encode(tensor(name=""), bytes(8)), r"empty name"),
    ("invalid-utf8-name", encode(b'{"w\xff": {"dtype": "F32", "shape": [2], '
                                 b'"data_offsets": [0, 8]}}', bytes(8)), r"UTF-8"),
    ("metadata-not-strings", encode({"__metadata__": {"a": 1}, **tensor()}, bytes(8)),
     r"metadata"),
    ("deep-nesting", encode(b'{"a":' * 5000 + b"1" + b"}" * 5000), r"nesting deeper than"),
    ("tensor-not-object", encode({"w": [1, 2]}, bytes(8)), r"object|tensor 'w'"),
    ("nul-in-header", encode(b'{"w\x00": 1}'), r"control character|JSON"),
]


def build(ctx):
    gpt2 = ctx.model("tiny-gpt2")
    for name, data, expect in BROKEN:
        # As the inputs of `loom reference`.
        folder = ctx.folder("safetensors.inputs." + name)
        with open(os.path.join(folder, "in.safetensors"), "wb") as f:
            f.write(data)
        ctx.add("safetensors.inputs." + name, folder,
                ["reference", gpt2, "--inputs", "in.safetensors", "--outputs", "out.safetensors"],
                r"in\.safetensors.*(" + expect + ")", outputs=["out.safetensors"])
        # As a model's checkpoint.
        case = "safetensors.checkpoint." + name
        model = ctx.copy_model("tiny-gpt2", case, skip=("model.safetensors",))
        with open(os.path.join(model, "model.safetensors"), "wb") as f:
            f.write(data)
        ctx.add(case, os.path.dirname(model), ["import", "model", "-o", "out.mlir"],
                r"model\.safetensors.*(" + expect + ")", outputs=["out.mlir"])

    # Inputs that parse but do not fit the model.
    for name, data, expect in [
        ("ids-negative", ids([1, -5, 3]), r"input_ids.*-5.*must not be negative"),
        ("ids-beyond-vocab", ids([1, 5000000, 3]), r"index 5000000 is out of range"),
        ("ids-float", encode({"input_ids": {"dtype": "F32", "shape": [1, 2],
                                            "data_offsets": [0, 8]}}, bytes(8)),
         r"input_ids|type|F32|integer"),
        ("ids-rank3", ids([1, 2, 3, 4], shape=[1, 2, 2]), r"input_ids|rank|shape"),
        ("ids-rank1", ids([1, 2, 3], shape=[3]), r"input_ids|rank|shape"),
        ("input-missing", encode({"pixels": {"dtype": "I64", "shape": [1, 1],
                                             "data_offsets": [0, 8]}}, bytes(8)),
         r"input 'input_ids' is missing"),
        ("no-tensors", encode({}), r"input_ids|missing|no input"),
    ]:
        folder = ctx.folder("reference." + name)
        with open(os.path.join(folder, "in.safetensors"), "wb") as f:
            f.write(data)
        ctx.add("reference." + name, folder,
                ["reference", gpt2, "--inputs", "in.safetensors", "--outputs", "out.safetensors"],
                expect, outputs=["out.safetensors"])

    folder = ctx.folder("reference.inputs-missing-file")
    ctx.add("reference.inputs-missing-file", folder,
            ["reference", gpt2, "--inputs", "nothing.safetensors"],
            r"nothing\.safetensors: cannot open the file: No such file")
    folder = ctx.folder("reference.inputs-folder")
    os.makedirs(os.path.join(folder, "in.safetensors"))
    ctx.add("reference.inputs-folder", folder,
            ["reference", gpt2, "--inputs", "in.safetensors"], r"is a folder, not a file")
    folder = ctx.folder("reference.inputs-fifo")
    os.mkfifo(os.path.join(folder, "in.safetensors"))
    ctx.add("reference.inputs-fifo", folder,
            ["reference", gpt2, "--inputs", "in.safetensors"], r"not a regular file")
    folder = ctx.folder("reference.inputs-dev-zero")
    os.symlink("/dev/zero", os.path.join(folder, "in.safetensors"))
    ctx.add("reference.inputs-dev-zero", folder,
            ["reference", gpt2, "--inputs", "in.safetensors"], r"not a regular file")
    folder = ctx.folder("reference.check-truncated")
    with open(os.path.join(ctx.model("tiny-gpt2"), "reference.safetensors"), "rb") as f:
        data = f.read()
    with open(os.path.join(folder, "expected.safetensors"), "wb") as f:
        f.write(data[: len(data) // 2])
    ctx.add("reference.check-truncated", folder,
            ["reference", gpt2, "--inputs",
             os.path.join(ctx.model("tiny-gpt2"), "reference.safetensors"),
             "--check", "expected.safetensors"], r"expected\.safetensors")
