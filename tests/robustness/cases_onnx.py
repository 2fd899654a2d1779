"""Malformed ONNX models: a small valid graph broken one way at a time (encoded with
protoc), and corrupted copies of a shared model.onnx."""
import os
import random

SMALL = """
ir_version: 8
opset_import { domain: "" version: 17 }
graph {
  name: "small"
  node { op_type: "Constant" output: "k" name: "const_k" attribute { name: "value" type: TENSOR t { data_type: 1 dims: 3 float_data: 1 float_data: 2 float_data: 3 } } }
  node { op_type: "Mul" input: "x" input: "k" output: "m" name: "mul" }
  node { op_type: "Softmax" input: "m" output: "y" name: "softmax" attribute { name: "axis" type: INT i: 1 } }
  initializer { name: "w" data_type: 1 dims: 2 float_data: 0.5 float_data: 0.25 }
  input { name: "x" type { tensor_type { elem_type: 1 shape { dim { dim_value: 2 } dim { dim_value: 3 } } } } }
  output { name: "y" type { tensor_type { elem_type: 1 shape { dim { dim_value: 2 } dim { dim_value: 3 } } } } }
}
"""

MUL = 'node { op_type: "Mul" input: "x" input: "k" output: "m" name: "mul" }'
SOFTMAX_AXIS = 'attribute { name: "axis" type: INT i: 1 }'
W = 'initializer { name: "w" data_type: 1 dims: 2 float_data: 0.5 float_data: 0.25 }'


def node(text):
    """The small graph with `text` in place of the Mul node."""
    return SMALL.replace(MUL, text)


# (name, textproto, what stderr must say)
CASES = [
    ("constant-no-output", SMALL.replace('output: "k" name: "const_k"', 'name: "const_k"'),
     r"node 'const_k' \(Constant\) has 0 outputs; the operator takes 1"),
    ("mul-one-input", node('node { op_type: "Mul" input: "x" output: "m" name: "mul" }'),
     r"node 'mul' \(Mul\) has 1 inputs; the operator takes 2"),
    ("mul-three-inputs", node('node { op_type: "Mul" input: "x" input: "k" input: "k" output: "m" name: "mul" }'),
     r"node 'mul' \(Mul\) has 3 inputs; the operator takes 2"),
    ("mul-two-outputs", node('node { op_type: "Mul" input: "x" input: "k" output: "m" output: "m2" name: "mul" }'),
     r"node 'mul' \(Mul\) has 2 outputs; the operator takes 1"),
    ("mul-empty-input", node('node { op_type: "Mul" input: "x" input: "" output: "m" name: "mul" }'),
     r"node 'mul' \(Mul\): required input 1 has no name"),
    ("mul-empty-output", node('node { op_type: "Mul" input: "x" input: "k" output: "" name: "mul" }'),
     r"node 'mul' \(Mul\): required output 0 has no name"),
    ("unnamed-node", node('node { op_type: "Mul" input: "x" output: "m" }'),
     r"node '#1' \(Mul\) has 1 inputs"),
    ("undefined-input", node('node { op_type: "Mul" input: "x" input: "nope" output: "m" name: "mul" }'),
     r"node 'mul' \(Mul\): input 'nope' is not defined before use"),
    ("out-of-order", SMALL.replace(MUL, "").replace(
        'node { op_type: "Softmax"', MUL + ' node { op_type: "Softmax"').replace(
        'node { op_type: "Constant"', 'node { op_type: "Identity" input: "x" output: "x2" name: "id" } node { op_type: "Constant"')
     .replace(MUL, 'node { op_type: "Mul" input: "x" input: "later" output: "m" name: "mul" }'),
     r"input 'later' is not defined before use"),
    ("duplicate-output", node('node { op_type: "Mul" input: "x" input: "k" output: "k" name: "mul" }'),
     r"output 'k' is already defined"),
    ("output-shadows-input", node('node { op_type: "Mul" input: "x" input: "k" output: "x" name: "mul" }'),
     r"output 'x' is already defined"),
    ("duplicate-initializer", SMALL.replace(W, W + " " + W), r"initializer 'w' is defined twice"),
    ("duplicate-graph-input", SMALL.replace("  output { name: \"y\"",
        '  input { name: "x" type { tensor_type { elem_type: 1 } } }\n  output { name: "y"'),
     r"graph input 'x' is declared twice"),
    ("axis-float", SMALL.replace(SOFTMAX_AXIS, 'attribute { name: "axis" type: FLOAT f: 1.5 }'),
     r"node 'softmax' \(Softmax\): attribute 'axis' is FLOAT; it must be INT"),
    ("axis-string", SMALL.replace(SOFTMAX_AXIS, 'attribute { name: "axis" type: STRING s: "1" }'),
     r"attribute 'axis' is STRING; it must be INT"),
    ("axis-untyped", SMALL.replace(SOFTMAX_AXIS, 'attribute { name: "axis" i: 1 }'),
     r"attribute 'axis' is UNDEFINED; it must be INT"),
    ("axis-twice", SMALL.replace(SOFTMAX_AXIS, SOFTMAX_AXIS + " " + SOFTMAX_AXIS),
     r"attribute 'axis' is given twice"),
    ("axis-out-of-range", SMALL.replace(SOFTMAX_AXIS, 'attribute { name: "axis" type: INT i: 7 }'),
     r"axis 7 is out of range for rank 2"),
    ("constant-value-ints-typed-int", SMALL.replace('name: "value" type: TENSOR t { data_type: 1 dims: 3 float_data: 1 float_data: 2 float_data: 3 }',
                                                    'name: "value_ints" type: INT i: 3'),
     r"attribute 'value_ints' is INT; it must be INTS"),
    ("constant-short-tensor", SMALL.replace("float_data: 1 float_data: 2 float_data: 3", "float_data: 1"),
     r"attribute 'value' holds 1 elements; its shape needs 3"),
    ("negative-input-dim", SMALL.replace("input { name: \"x\" type { tensor_type { elem_type: 1 shape { dim { dim_value: 2 }",
                                         "input { name: \"x\" type { tensor_type { elem_type: 1 shape { dim { dim_value: -2 }"),
     r"graph input 'x' has a negative dimension \(-2 at axis 0\)"),
    ("negative-initializer-dim", SMALL.replace("dims: 2 float_data: 0.5", "dims: -2 float_data: 0.5"),
     r"initializer 'w' has a negative dimension \(-2\)"),
    ("initializer-short", SMALL.replace("float_data: 0.5 float_data: 0.25", "float_data: 0.5"),
     r"initializer 'w' holds 1 elements; its shape needs 2"),
    ("initializer-long", SMALL.replace("float_data: 0.5 float_data: 0.25", "float_data: 0.5 float_data: 0.25 float_data: 1"),
     r"initializer 'w' holds 3 elements; its shape needs 2"),
    ("initializer-raw-short", SMALL.replace("float_data: 0.5 float_data: 0.25", 'raw_data: "\\000\\000\\000\\077"'),
     r"initializer 'w' has 4 bytes of data; its shape needs 2 elements of 4 bytes"),
    ("initializer-overflow", SMALL.replace("dims: 2 float_data: 0.5", "dims: 4611686018427387904 dims: 4 float_data: 0.5"),
     r"initializer 'w': the element count of its shape overflows"),
    ("initializer-no-name", SMALL.replace('initializer { name: "w" ', "initializer { "),
     r"an initializer has no name"),
    ("opset-missing", SMALL.replace('opset_import { domain: "" version: 17 }', ""),
     r"default-domain opset -1 is outside the range Loom knows"),
    ("opset-future", SMALL.replace("version: 17", "version: 99"),
     r"default-domain opset 99 is outside the range"),
    ("unknown-op", node('node { op_type: "Frobnicate" input: "x" input: "k" output: "m" name: "mul" }'),
     r"Frobnicate \(opset 17\): 1 node\(s\): mul"),
    ("output-never-computed", SMALL.replace('output { name: "y"', 'output { name: "zz"'),
     r"graph output 'zz' is never computed"),
    ("input-untyped", SMALL.replace('input { name: "x" type { tensor_type { elem_type: 1 shape { dim { dim_value: 2 } dim { dim_value: 3 } } } } }',
                                    'input { name: "x" }'),
     r"graph input 'x' is not a ranked tensor"),
    ("external-data-outside", SMALL.replace(W, 'initializer { name: "w" data_type: 1 dims: 2 data_location: EXTERNAL external_data { key: "location" value: "../../etc/passwd" } }'),
     r"'\.\.' leads out of the model folder"),
    ("external-data-missing", SMALL.replace(W, 'initializer { name: "w" data_type: 1 dims: 2 data_location: EXTERNAL external_data { key: "location" value: "weights.bin" } }'),
     r"weights\.bin"),
]


def build(ctx):
    for name, text, expect in CASES:
        case = "onnx." + name
        folder = ctx.folder(case)
        ctx.encode_onnx(text, os.path.join(folder, "model.onnx"))
        ctx.add(case, folder, ["import", "model.onnx", "-o", "out.mlir"], expect,
                outputs=["out.mlir"])
    # `reference` validates the same way before running.
    for name in ("constant-no-output", "axis-float", "initializer-short"):
        case = "onnx.reference." + name
        folder = ctx.folder(case)
        text = dict((n, t) for n, t, _ in CASES)[name]
        ctx.encode_onnx(text, os.path.join(folder, "model.onnx"))
        expect = dict((n, e) for n, _, e in CASES)[name]
        ctx.add(case, folder, ["reference", "model.onnx", "--inputs",
                               os.path.join(ctx.model("tiny-gpt2"), "reference.safetensors")],
                expect)

    # Corrupted binaries of a real export.
    with open(os.path.join(ctx.model("tiny-gpt2"), "model.onnx"), "rb") as f:
        real = f.read()
    rng = random.Random(29)
    corrupt = {
        "empty": b"",
        "truncated-half": real[: len(real) // 2],
        "truncated-header": real[:40],
        "random-bytes": bytes(rng.randrange(256) for _ in range(4096)),
        "text-file": b"this is not a protobuf\n",
    }
    for name, data in corrupt.items():
        case = "onnx.binary." + name
        folder = ctx.folder(case)
        with open(os.path.join(folder, "model.onnx"), "wb") as f:
            f.write(data)
        ctx.add(case, folder, ["import", "model.onnx", "-o", "out.mlir"],
                r"model\.onnx: (not a valid ONNX model|default-domain opset)",
                outputs=["out.mlir"])
    for name, make, expect in [
        ("fifo", lambda p: os.mkfifo(p), r"model\.onnx: is not a regular file"),
        ("dev-zero", lambda p: os.symlink("/dev/zero", p), r"model\.onnx: is not a regular file"),
    ]:
        case = "onnx.file." + name
        folder = ctx.folder(case)
        make(os.path.join(folder, "model.onnx"))
        ctx.add(case, folder, ["import", "model.onnx"], expect)
