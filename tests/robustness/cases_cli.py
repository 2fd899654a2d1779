"""Command-line misuse: unknown options, values that do not parse whole or lie out of
range, and outputs that would replace what the user owns."""
import os

USAGE = r"usage: loom"

# (name, arguments with MODEL for a model folder, what stderr must say)
CASES = [
    ("no-command", [], r"usage: loom <command>"),
    ("unknown-command", ["frobnicate"], r"unknown command 'frobnicate'"),
    ("import-no-model", ["import"], r"loom import: missing the model"),
    ("import-unknown-option", ["import", "MODEL", "--fast"], r"unknown option '--fast'"),
    ("import-two-models", ["import", "MODEL", "MODEL"], r"unexpected argument"),
    ("import-missing-value", ["import", "MODEL", "-o"], r"-o needs a value"),
    ("import-kv-block-zero", ["import", "MODEL", "--kv-block-size", "0"], r"'0' is out of range"),
    ("import-kv-block-text", ["import", "MODEL", "--kv-block-size", "16k"], r"'16k' is not an integer"),
    ("import-dtype-unknown", ["import", "MODEL", "--dtype", "f8"], r"f8"),
    ("import-missing-model", ["import", "nowhere"], r"nowhere"),
    ("generate-max-int64", ["generate", "MODEL", "--prompt", "a", "--max-new-tokens", "9223372036854775807"],
     r"--max-new-tokens: '9223372036854775807' is out of range"),
    ("generate-max-beyond-int64", ["generate", "MODEL", "--prompt", "a", "--max-new-tokens", "99999999999999999999"],
     r"is out of range"),
    ("generate-max-negative", ["generate", "MODEL", "--prompt", "a", "--max-new-tokens", "-1"], r"out of range"),
    ("generate-max-sci", ["generate", "MODEL", "--prompt", "a", "--max-new-tokens", "1e12"], r"'1e12' is not an integer"),
    ("generate-max-hex", ["generate", "MODEL", "--prompt", "a", "--max-new-tokens", "0x10"], r"'0x10' is not an integer"),
    ("generate-max-empty", ["generate", "MODEL", "--prompt", "a", "--max-new-tokens", ""], r"'' is not an integer"),
    ("generate-max-positions", ["generate", "MODEL", "--prompt", "a", "--max-new-tokens", "9999999"],
     r"exceed the model's \d+ positions"),
    ("generate-temperature-nan", ["generate", "MODEL", "--prompt", "a", "--temperature", "nan"], r"'nan' is not a finite number"),
    ("generate-temperature-inf", ["generate", "MODEL", "--prompt", "a", "--temperature", "inf"], r"'inf' is not a finite number"),
    ("generate-temperature-negative", ["generate", "MODEL", "--prompt", "a", "--temperature", "-1"], r"out of range"),
    ("generate-temperature-text", ["generate", "MODEL", "--prompt", "a", "--temperature", "warm"], r"'warm' is not a number"),
    ("generate-top-p-zero", ["generate", "MODEL", "--prompt", "a", "--top-p", "0"], r"--top-p must be above 0"),
    ("generate-top-p-big", ["generate", "MODEL", "--prompt", "a", "--top-p", "1.01"], r"out of range"),
    ("generate-top-k-abc", ["generate", "MODEL", "--prompt", "a", "--top-k", "abc"], r"'abc' is not an integer"),
    ("generate-seed-negative", ["generate", "MODEL", "--prompt", "a", "--seed", "-4"], r"out of range"),
    ("generate-no-prompt", ["generate", "MODEL"], r"give the prompt with --prompt"),
    ("compile-no-output", ["compile", "MODEL"], r"give the artifact folder with -o"),
    ("compile-target", ["compile", "MODEL", "-o", "art", "--target", "sm_70"], r"unsupported --target sm_70"),
    ("compile-max-seq-space", ["compile", "MODEL", "-o", "art", "--max-seq", " 12"], r"' 12' is not an integer"),
    ("compile-max-batch-zero", ["compile", "MODEL", "-o", "art", "--max-batch", "0"], r"out of range"),
    ("compile-max-batch-plus", ["compile", "MODEL", "-o", "art", "--max-batch", "4x"], r"'4x' is not an integer"),
    ("harness-sizes", ["kernel-harness", "MODEL", "-o", "h", "--sizes", "batch=0"], r"--sizes: '0' is out of range"),
    ("harness-sizes-form", ["kernel-harness", "MODEL", "-o", "h", "--sizes", "batch"], r"'batch' is not name=N"),
    ("optimize-tolerance-nan", ["optimize", "MODEL", "--tolerance", "nan"], r"not a finite number"),
    ("optimize-seed-missing", ["optimize", "MODEL", "--seed"], r"--seed needs a value"),
    ("reference-no-inputs", ["reference", "MODEL"], r"give the inputs with --inputs"),
    ("reference-tp-zero", ["reference", "MODEL", "--inputs", "x", "--tensor-parallel", "0"], r"out of range"),
    ("reference-tolerance-tail", ["reference", "MODEL", "--inputs", "x", "--tolerance", "1e-4x"], r"'1e-4x' is not a number"),
    ("reference-check-name", ["reference", "MODEL", "--inputs", "x", "--check-name", "logits"], r"wants output=tensor"),
    ("grad-micro-zero", ["grad", "MODEL", "--batch", "b", "--micro-batches", "0"], r"out of range"),
    ("train-steps-float", ["train", "MODEL", "--data", "d", "-o", "t", "--steps", "1.5"], r"'1.5' is not an integer"),
    ("train-betas", ["train", "MODEL", "--data", "d", "-o", "t", "--betas", "0.9"], r"--betas wants two numbers"),
    ("train-betas-nan", ["train", "MODEL", "--data", "d", "-o", "t", "--betas", "nan,0.9"], r"--betas wants two numbers"),
    ("train-schedule", ["train", "MODEL", "--data", "d", "-o", "t", "--schedule", "zigzag"], r"unknown --schedule 'zigzag'"),
    ("train-lr-inf", ["train", "MODEL", "--data", "d", "-o", "t", "--lr", "inf"], r"not a finite number"),
    ("run-repeat-negative", ["run", "art", "--weights", "w", "--inputs", "i", "--repeat", "-3"], r"out of range"),
    ("run-device-text", ["run", "art", "--weights", "w", "--inputs", "i", "--device", "gpu0"], r"'gpu0' is not an integer"),
    ("greedy-no-generations", ["greedy", "art", "--weights", "w"], r"give --weights and --generations"),
    ("kernel-check-mp-zero", ["kernel-check", "h", "--multiprocessors", "0"], r"out of range"),
    ("cuda-compile-no-file", ["cuda-compile"], r"missing the CUDA file"),
    ("cuda-compile-fifo", ["cuda-compile", "fifo.cu"], r"fifo\.cu: is not a regular file"),
]


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def build(ctx):
    gpt2 = ctx.model("tiny-gpt2")
    for name, args, expect in CASES:
        case = "cli." + name
        folder = ctx.folder(case)
        if name == "cuda-compile-fifo":
            os.mkfifo(os.path.join(folder, "fifo.cu"))
        ctx.add(case, folder, [gpt2 if a == "MODEL" else a for a in args], expect,
                outputs=["art", "h", "t", "out.mlir"])

    # Outputs that would replace the user's files or folders: refused, nothing changed.
    def user_folder(case):
        folder = ctx.folder(case)
        os.makedirs(os.path.join(folder, "mine"))
        write(os.path.join(folder, "mine", "notes.txt"), "precious\n")
        write(os.path.join(folder, "notes.txt"), "hello\n")
        return folder

    not_loom = r"mine: is a folder that Loom did not write"
    for name, args, expect in [
        ("compile-onto-folder", ["compile", gpt2, "-o", "mine"], not_loom),
        ("compile-onto-file", ["compile", gpt2, "-o", "notes.txt"], r"notes\.txt: exists and is not a folder"),
        ("compile-onto-dot", ["compile", gpt2, "-o", "."], r"\.: is a folder that Loom did not write"),
        ("compile-onto-parent", ["compile", gpt2, "-o", "mine/.."], r"mine/\.\.: is a folder that Loom did not write"),
        ("harness-onto-folder", ["kernel-harness", gpt2, "-o", "mine"], not_loom),
        ("train-onto-folder", ["train", ctx.model("tiny-llama"), "--data", "d.safetensors", "-o", "mine"],
         not_loom),
        ("import-onto-folder", ["import", gpt2, "-o", "mine"], r"mine: is a folder; give the path of a file"),
        ("optimize-onto-folder", ["optimize", gpt2, "-o", "mine"], r"mine: is a folder; give the path of a file"),
    ]:
        case = "cli.output." + name
        ctx.add(case, user_folder(case), args, expect)

    # An earlier artifact with a file of the user's inside is not replaced.
    case = "cli.output.artifact-with-user-file"
    folder = ctx.folder(case)
    os.makedirs(os.path.join(folder, "art"))
    write(os.path.join(folder, "art", "manifest.json"), '{"format": "loom-artifact"}\n')
    write(os.path.join(folder, "art", "kernels.cu"), "// old\n")
    write(os.path.join(folder, "art", "README"), "mine\n")
    ctx.add(case, folder, ["compile", gpt2, "-o", "art"],
            r"art: holds 'README', which Loom did not write")
    # A folder whose manifest says it is something else.
    case = "cli.output.other-manifest"
    folder = ctx.folder(case)
    os.makedirs(os.path.join(folder, "art"))
    write(os.path.join(folder, "art", "manifest.json"), '{"format": "my-own"}\n')
    ctx.add(case, folder, ["compile", gpt2, "-o", "art"], r"art: is a folder that Loom did not write")
    # A failed compile leaves nothing behind.
    case = "cli.output.failed-compile"
    folder = ctx.folder(case)
    ctx.encode_onnx('ir_version: 8 opset_import { domain: "" version: 17 } graph { name: "g" '
                    'node { op_type: "Abs" input: "x" output: "y" name: "abs" } '
                    'input { name: "x" type { tensor_type { elem_type: 1 shape { dim { dim_value: 2 } } } } } '
                    'output { name: "y" type { tensor_type { elem_type: 1 } } } }',
                    os.path.join(folder, "bad.onnx"))
    ctx.add(case, folder, ["compile", "bad.onnx", "-o", "art"], r"Abs \(opset 17\): 1 node\(s\): abs",
            outputs=["art"])
