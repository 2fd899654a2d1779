"""Copies a model folder and edits its config.json or tokenizer.json with a Python
statement over `c` (the config) or `t` (the tokenizer), for the robustness tests.

usage: edit_model.py SRC DST [--config STMT] [--tokenizer STMT] [--raw-config TEXT]
"""
import json
import os
import shutil
import sys


def main():
    src, dst, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst)
    for flag, statement in zip(args[::2], args[1::2]):
        if flag == "--raw-config":
            with open(os.path.join(dst, "config.json"), "w") as f:
                f.write(statement)
            continue
        name, var = {"--config": ("config.json", "c"),
                     "--tokenizer": ("tokenizer.json", "t")}[flag]
        path = os.path.join(dst, name)
        with open(path) as f:
            value = json.load(f)
        exec(statement, {var: value, "inf": float("inf")})
        with open(path, "w") as f:
            # allow_nan: writes Infinity, which the tests turn into 1e999 where needed.
            json.dump(value, f)


if __name__ == "__main__":
    main()
