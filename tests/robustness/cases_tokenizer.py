"""Malformed tokenizer.json files, loaded by `loom generate`."""
import json
import os


def added(entry):
    def edit(t):
        t["added_tokens"].append(entry)
    return edit


def model_key(key, value):
    def edit(t):
        t["model"][key] = value
    return edit


def vocab(token, value):
    def edit(t):
        t["model"]["vocab"][token] = value
    return edit


RANGE = r"ids must be integers from 0 to 4194303"

# (name, edit of the parsed tokenizer or raw text, what stderr must say)
CASES = [
    ("not-json", "{", r"tokenizer\.json: at byte"),
    ("empty-file", "", r"tokenizer\.json: at byte 0"),
    ("invalid-utf8", b'{"model": {"type": "BPE\xc0\xaf"}}', r"invalid UTF-8"),
    ("deep-nesting", "{\"a\":" * 3000 + "1" + "}" * 3000, r"nesting deeper than"),
    ("no-model", lambda t: t.pop("model"), r"model\.type must be \"BPE\""),
    ("model-unigram", model_key("type", "Unigram"), r"model\.type must be \"BPE\""),
    ("model-type-number", model_key("type", 3), r"model\.type must be \"BPE\""),
    ("no-pre-tokenizer", lambda t: t.update(pre_tokenizer=None), r"pre_tokenizer must be ByteLevel"),
    ("normalizer", lambda t: t.update(normalizer={"type": "NFC"}), r"normalizers are not supported"),
    ("byte-fallback", model_key("byte_fallback", True), r"model\.byte_fallback is not supported"),
    ("vocab-array", model_key("vocab", [1, 2]), r"model\.vocab must be an object"),
    ("vocab-id-negative", vocab("zz", -1), r"model\.vocab\[\"zz\"\] is not a valid id"),
    ("vocab-id-huge", vocab("zz", 2**31 - 1), r"model\.vocab\[\"zz\"\] is not a valid id \(" + RANGE),
    ("vocab-id-beyond-int64", None, r"model\.vocab\[\"zz\"\] is not a valid id"),
    ("vocab-id-float", vocab("zz", 1.5), r"model\.vocab\[\"zz\"\] is not a valid id"),
    ("vocab-id-string", vocab("zz", "7"), r"model\.vocab\[\"zz\"\] is not a valid id"),
    ("merges-object", model_key("merges", {}), r"model\.merges must be an array"),
    ("merge-no-space", model_key("merges", ["ab"]), r"model\.merges\[0\] is not a pair"),
    ("merge-triple", model_key("merges", [["a", "b", "c"]]), r"model\.merges\[0\] is not a pair"),
    ("merge-number", model_key("merges", [5]), r"model\.merges\[0\] is not a pair"),
    ("added-id-negative", added({"id": -5, "content": "<x>"}), r"\"<x>\" has id -5, out of range"),
    ("added-id-2-32", added({"id": 4294967297, "content": "<x>"}), r"has id 4294967297, out of range"),
    ("added-id-1e9", added({"id": 1000000000, "content": "<x>"}), r"has id 1000000000, out of range"),
    ("added-id-int-max", added({"id": 2147483647, "content": "<x>"}), r"has id 2147483647, out of range"),
    ("added-id-float", added({"id": 3.5, "content": "<x>"}), r"need an integer id and a non-empty content"),
    ("added-no-content", added({"id": 5}), r"need an integer id and a non-empty content"),
    ("added-empty-content", added({"id": 5, "content": ""}), r"need an integer id and a non-empty content"),
    ("post-unknown-token", lambda t: t.update(post_processor={
        "type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<nope>"}}]}),
     r"post_processor names an unknown special token"),
    ("post-unknown-kind", lambda t: t.update(post_processor={"type": "BertProcessing"}),
     r"post_processor \"BertProcessing\" is not supported"),
]


def build(ctx):
    for name, edit, expect in CASES:
        case = "tokenizer." + name
        folder = ctx.copy_model("tiny-gpt2", case)
        path = os.path.join(folder, "tokenizer.json")
        if edit is None:  # an id no int64 holds: written by hand
            with open(path) as f:
                text = f.read()
            text = text.replace('"vocab": {', '"vocab": {"zz": 99999999999999999999999, ', 1)
        elif callable(edit):
            with open(path) as f:
                tokenizer = json.load(f)
            edit(tokenizer)
            text = json.dumps(tokenizer)
        else:
            text = edit
        with open(path, "wb") as f:
            f.write(text if isinstance(text, bytes) else text.encode())
        ctx.add(case, os.path.dirname(folder),
                ["generate", "model", "--prompt", "hello", "--max-new-tokens", "1"],
                r"tokenizer\.json: .*" + expect if not expect.startswith(r"tokenizer") else expect)

    for name, make, expect in [
        ("fifo", lambda p: os.mkfifo(p), r"tokenizer\.json: is not a regular file"),
        ("dev-zero", lambda p: os.symlink("/dev/zero", p), r"tokenizer\.json: is not a regular file"),
        ("folder", lambda p: os.makedirs(p), r"tokenizer\.json: is a folder, not a file"),
        ("missing", lambda p: None, r"tokenizer\.json: cannot open the file: No such file"),
    ]:
        case = "tokenizer." + name
        folder = ctx.copy_model("tiny-gpt2", case)
        path = os.path.join(folder, "tokenizer.json")
        os.remove(path)
        make(path)
        ctx.add(case, os.path.dirname(folder),
                ["generate", "model", "--prompt", "hello", "--max-new-tokens", "1"], expect)
