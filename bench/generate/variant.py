#!/usr/bin/env python3
"""Writes a copy of a step artifact with its launches edited, to measure where a step's
time goes or how a launch shape performs without recompiling:

  variant.py ARTIFACT OUT [--drop KERNEL]... [--cap KERNEL=N]... [--per-sm KERNEL=N]...

KERNEL is a kernel name or the end of one (`_decode`, `_rows1`, `loom_scatter_`
matches names starting with it). --drop removes its launches (the artifact then
computes wrong results; its timing is what it is for); --cap and --per-sm set the
first grid dimension's `cap` and `per_sm` (docs/artifact.md). Prints how many launches
each edit touched; an edit that matches none is an error.
"""
import argparse
import json
import shutil
import sys


def matches(pattern, name):
    return name == pattern or name.endswith(pattern) or (
        pattern.endswith("_") and name.startswith(pattern))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("artifact")
    parser.add_argument("out")
    parser.add_argument("--drop", action="append", default=[])
    parser.add_argument("--cap", action="append", default=[])
    parser.add_argument("--per-sm", action="append", default=[])
    args = parser.parse_args()

    with open(f"{args.artifact}/manifest.json") as f:
        manifest = json.load(f)
    launches = manifest["launches"]
    for pattern in args.drop:
        kept = [l for l in launches if not matches(pattern, l["kernel"])]
        if len(kept) == len(launches):
            sys.exit(f"variant.py: no launch matches --drop {pattern}")
        print(f"--drop {pattern}: {len(launches) - len(kept)} launches")
        launches = kept
    for option, key in (("cap", "cap"), ("per_sm", "per_sm")):
        for edit in getattr(args, option):
            pattern, _, value = edit.partition("=")
            if not value.isdigit() or int(value) <= 0:
                sys.exit(f"variant.py: --{option.replace('_', '-')} {edit}: want KERNEL=N, N > 0")
            touched = [l for l in launches if matches(pattern, l["kernel"])]
            if not touched:
                sys.exit(f"variant.py: no launch matches {pattern}")
            for l in touched:
                l["grid"][0][key] = int(value)
            print(f"--{option.replace('_', '-')} {edit}: {len(touched)} launches")
    manifest["launches"] = launches

    shutil.rmtree(args.out, ignore_errors=True)
    shutil.copytree(args.artifact, args.out)
    with open(f"{args.out}/manifest.json", "w") as f:
        json.dump(manifest, f, indent=1)


if __name__ == "__main__":
    main()
