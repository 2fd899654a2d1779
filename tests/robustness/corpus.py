"""The malformed-input corpus: every case runs `loom` on a broken input and checks that
it exits 1 or 2 (never a signal or a hang), that stderr names the cause, that no output
is left behind and that no file of the user's changed.

Cases are built at run time from the tiny models of ../shared/models (cases_*.py), so
nothing large is committed.

usage: corpus.py --loom BIN --shared DIR --protoc PROTOC --onnx-proto PROTO
                 [--work DIR] [--filter TEXT] [--list]
"""
import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time

import cases_cli
import cases_config
import cases_onnx
import cases_safetensors
import cases_tokenizer


class Case:
    """One malformed input: `args` to `loom` run in `folder`, the regex stderr must
    match, and the outputs (paths relative to `folder`) that must not exist after."""

    def __init__(self, name, folder, args, expect, outputs=(), stdin=None):
        self.name, self.folder, self.args = name, folder, args
        self.expect, self.outputs, self.stdin = expect, list(outputs), stdin


class Context:
    """What case builders share: the paths of tools and models, and a scratch folder
    per case."""

    def __init__(self, args):
        self.loom, self.shared = args.loom, args.shared
        self.protoc, self.onnx_proto = args.protoc, args.onnx_proto
        self.work = args.work
        self.cases = []

    def model(self, name):
        return os.path.join(self.shared, "models", name)

    def folder(self, case_name):
        path = os.path.join(self.work, case_name)
        os.makedirs(path)
        return path

    def copy_model(self, model, case_name, skip=()):
        """A copy of a shared model folder (hard links where the file system allows)
        under the case's folder, as `model/`; returns its path."""
        folder = self.folder(case_name)
        dst = os.path.join(folder, "model")
        os.makedirs(dst)
        src = self.model(model)
        for entry in sorted(os.listdir(src)):
            if entry in skip or not (entry.endswith(".json") or entry == "model.safetensors"):
                continue
            source, target = os.path.join(src, entry), os.path.join(dst, entry)
            if entry.endswith(".json"):
                shutil.copyfile(source, target)
                continue
            try:
                os.link(source, target)  # cases never write into a checkpoint
            except OSError:
                shutil.copyfile(source, target)
        return dst

    def add(self, name, folder, args, expect, outputs=(), stdin=None):
        self.cases.append(Case(name, folder, args, expect, outputs, stdin))

    def encode_onnx(self, textproto, path):
        with open(path, "wb") as out:
            subprocess.run([self.protoc, "--encode=onnx.ModelProto",
                            "-I" + os.path.dirname(self.onnx_proto), self.onnx_proto],
                           input=textproto.encode(), stdout=out, check=True)


def snapshot(folder):
    """Every entry under `folder` with its kind, size and content hash."""
    state = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = os.path.join(root, name)
            rel = os.path.relpath(path, folder)
            if os.path.islink(path):
                state[rel] = ("link", os.readlink(path))
            elif os.path.isdir(path):
                state[rel] = ("dir",)
            elif os.path.isfile(path):
                with open(path, "rb") as f:
                    state[rel] = ("file", hashlib.sha256(f.read()).hexdigest())
            else:
                state[rel] = ("special",)
    return state


def run_case(ctx, case, timeout):
    """Runs one case; returns a list of what went wrong (empty when it passed)."""
    before = snapshot(case.folder)
    command = [ctx.loom] + case.args
    start = time.time()
    try:
        result = subprocess.run(command, cwd=case.folder, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                timeout=timeout)
    except subprocess.TimeoutExpired:
        return ["did not finish within %d s (a hang)" % timeout]
    seconds = time.time() - start
    problems = []
    stderr = result.stderr.decode("utf-8", "replace")
    if result.returncode < 0:
        problems.append("killed by signal %d" % -result.returncode)
    elif result.returncode not in (1, 2):
        problems.append("exit code %d, not 1 or 2" % result.returncode)
    if not re.search(case.expect, stderr):
        problems.append("stderr does not match /%s/" % case.expect)
    if problems:
        problems.append("stderr: " + stderr.strip()[-600:])
    after = snapshot(case.folder)
    for rel, state in before.items():
        if after.get(rel) != state:
            problems.append("user file changed or removed: " + rel)
    for rel in sorted(set(after) - set(before)):
        problems.append("left behind: " + rel)
    for rel in case.outputs:
        if os.path.lexists(os.path.join(case.folder, rel)) and rel not in before:
            problems.append("output exists: " + rel)
    if seconds > timeout / 2:
        problems.append("slow: %.1f s" % seconds)
    return problems


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--loom", required=True)
    parser.add_argument("--shared", required=True)
    parser.add_argument("--protoc", required=True)
    parser.add_argument("--onnx-proto", required=True)
    parser.add_argument("--work", default=None)
    parser.add_argument("--filter", default="")
    parser.add_argument("--timeout", type=int, default=60)
    parser.add_argument("--list", action="store_true")
    args = parser.parse_args()
    args.work = os.path.abspath(args.work or "corpus-work")
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    ctx = Context(args)
    for module in (cases_safetensors, cases_config, cases_tokenizer, cases_onnx,
                   cases_cli):
        module.build(ctx)
    names = [c.name for c in ctx.cases]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        sys.exit("duplicate case names: " + ", ".join(sorted(duplicates)))
    selected = [c for c in ctx.cases if args.filter in c.name]
    if args.list:
        for case in selected:
            print(case.name)
        return
    failed = 0
    by_kind = {}
    for case in selected:
        problems = run_case(ctx, case, args.timeout)
        kind = case.name.split(".")[0]
        by_kind[kind] = by_kind.get(kind, 0) + 1
        if problems:
            failed += 1
            print("FAIL %s: loom %s" % (case.name, " ".join(case.args)))
            for problem in problems:
                print("    " + problem)
    summary = ", ".join("%s %d" % item for item in sorted(by_kind.items()))
    print("%d of %d malformed-input cases passed (%s)" %
          (len(selected) - failed, len(selected), summary))
    if failed == 0:
        shutil.rmtree(args.work, ignore_errors=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
