"""Malformed config.json files, imported with `loom import`."""
import json
import os


def setter(key, value):
    def edit(c):
        c[key] = value
    return edit


def dropper(key):
    def edit(c):
        del c[key]
    return edit


def rope(key, value):
    def edit(c):
        c["rope_parameters"][key] = value
    return edit


# (name, model, edit of the parsed config or raw text, what stderr must say)
CASES = [
    ("not-json", "tiny-llama", "{not json", r"config\.json: at byte"),
    ("empty-file", "tiny-llama", "", r"config\.json: at byte 0"),
    ("array-root", "tiny-llama", "[1, 2]", r"not a JSON object"),
    ("trailing-garbage", "tiny-llama", '{"a": 1} x', r"config\.json: at byte"),
    ("invalid-utf8", "tiny-llama", b'{"architectures": ["Llama\xff"]}', r"invalid UTF-8"),
    ("bom", "tiny-llama", b'\xef\xbb\xbf{}', r"config\.json: at byte 0"),
    ("deep-nesting", "tiny-llama", "[" * 10000 + "]" * 10000, r"nesting deeper than"),
    ("duplicate-key", "tiny-llama", '{"a": 1, "a": 2}', r"duplicate|twice|\"a\""),
    ("no-architectures", "tiny-llama", dropper("architectures"),
     r"\"architectures\" must list exactly one class name"),
    ("two-architectures", "tiny-llama", setter("architectures", ["A", "B"]),
     r"\"architectures\" must list exactly one"),
    ("unknown-architecture", "tiny-llama", setter("architectures", ["T5Model"]),
     r"architecture \"T5Model\" is not supported"),
    ("vocab-missing", "tiny-llama", dropper("vocab_size"), r"\"vocab_size\" is missing"),
    ("vocab-zero", "tiny-llama", setter("vocab_size", 0), r"\"vocab_size\" must be a positive integer"),
    ("vocab-negative", "tiny-llama", setter("vocab_size", -3), r"\"vocab_size\" must be a positive integer"),
    ("vocab-string", "tiny-llama", setter("vocab_size", "2048"), r"\"vocab_size\" must be a positive integer"),
    ("vocab-float", "tiny-llama", setter("vocab_size", 2048.5), r"\"vocab_size\" must be a positive integer"),
    ("vocab-huge", "tiny-llama", setter("vocab_size", 2**40), r"\"vocab_size\" must be a positive integer below"),
    ("vocab-beyond-int64", "tiny-llama", '{"architectures": ["LlamaForCausalLM"], "vocab_size": 99999999999999999999999}',
     r"\"vocab_size\" must be a positive integer"),
    ("vocab-larger-than-weights", "tiny-llama", setter("vocab_size", 4096),
     r"the vocabulary size \(4096\) is larger than any dimension of the checkpoint's tensors \(2048\)"),
    ("hidden-huge", "tiny-llama", setter("hidden_size", 2**30),
     r"the hidden size \(1073741824\) is larger than any dimension"),
    ("hidden-wrong", "tiny-llama", setter("hidden_size", 128), r"has shape .* but the config implies"),
    ("intermediate-huge", "tiny-llama", setter("intermediate_size", 2**31 - 1),
     r"the intermediate size .* is larger than any dimension"),
    ("head-dim-2-40", "tiny-llama", setter("head_dim", 2**40),
     r"\"head_dim\" must be a positive integer below 2147483648"),
    ("head-dim-2-30", "tiny-llama", setter("head_dim", 2**30), r"the head dimension .* is larger"),
    ("head-dim-overflow-product", "tiny-llama",
     lambda c: c.update(head_dim=2**30, num_attention_heads=2**31 - 1, num_key_value_heads=1),
     r"heads x head_dim \(2147483647 x 1073741824\) is larger"),
    ("heads-zero", "tiny-llama", setter("num_attention_heads", 0),
     r"\"num_attention_heads\" must be a positive integer"),
    ("kv-heads-not-dividing", "tiny-llama", setter("num_key_value_heads", 3),
     r"\"num_key_value_heads\" must divide num_attention_heads"),
    ("layers-fewer", "tiny-llama", setter("num_hidden_layers", 1),
     r"the config has 1 layers but the checkpoint holds tensors of layer 3"),
    ("layers-more", "tiny-llama", setter("num_hidden_layers", 6),
     r"the config has 6 layers but the checkpoint's tensors stop at layer 3"),
    ("layers-huge", "tiny-llama", setter("num_hidden_layers", 2**31 - 1),
     r"the config has 2147483647 layers but the checkpoint's tensors stop at layer 3"),
    ("rope-theta-infinite", "tiny-llama", rope("rope_theta", "INF"),
     r"\"rope_theta\" must be a positive finite number"),
    ("rope-theta-zero", "tiny-llama", rope("rope_theta", 0), r"\"rope_theta\" must be a positive"),
    ("rope-theta-negative", "tiny-llama", rope("rope_theta", -10000),
     r"\"rope_theta\" must be a positive"),
    ("rope-type-yarn", "tiny-llama", rope("rope_type", "yarn"),
     r"RoPE types \"default\", \"linear\" and \"llama3\" are supported \(dynamic and yarn not yet\)"),
    ("rope-partial-infinite", "tiny-llama", rope("partial_rotary_factor", "INF"),
     r"partial_rotary_factor\" must be in \(0, 1\]"),
    ("rope-parameters-array", "tiny-llama", setter("rope_parameters", [1]),
     r"\"rope_parameters\" must be an object"),
    ("eps-infinite", "tiny-llama", setter("rms_norm_eps", "INF"),
     r"\"rms_norm_eps\" must be a finite number"),
    ("eps-negative", "tiny-llama", setter("rms_norm_eps", -1e-5),
     r"the norm epsilon must not be negative"),
    ("eps-string", "tiny-llama", setter("rms_norm_eps", "1e-5"), r"\"rms_norm_eps\" must be a finite number"),
    ("act-unknown", "tiny-llama", setter("hidden_act", "mish"), r"\"mish\" is not a supported activation"),
    ("tie-string", "tiny-llama", setter("tie_word_embeddings", "yes"),
     r"\"tie_word_embeddings\" must be true or false"),
    ("sliding-window", "tiny-llama", lambda c: c.update(architectures=["MistralForCausalLM"], sliding_window=16),
     r"sliding-window attention is not supported"),
    ("quantization-unknown", "tiny-llama", setter("quantization_config", {"quant_method": "magic"}),
     r"quantization_config"),
    ("quantization-array", "tiny-llama", setter("quantization_config", [1]),
     r"quantization_config\" must be an object"),
    ("gpt2-positions-huge", "tiny-gpt2", setter("n_positions", 2**31 - 1),
     r"the position count \(2147483647\) is larger than any dimension"),
    ("gpt2-embd-negative", "tiny-gpt2", setter("n_embd", -64), r"\"n_embd\" must be a positive integer"),
    ("gpt2-heads-not-dividing", "tiny-gpt2", setter("n_head", 7), r"not a multiple of the head count 7"),
    ("gpt2-eps-huge", "tiny-gpt2", setter("layer_norm_epsilon", "INF"),
     r"\"layer_norm_epsilon\" must be a finite number"),
    ("bert-positions-relative", "tiny-bert", setter("position_embedding_type", "relative_key"),
     r"only \"absolute\" is supported"),
    ("bert-decoder", "tiny-bert", setter("is_decoder", True), r"BERT as a decoder is not supported"),
]


def build(ctx):
    for name, model, edit, expect in CASES:
        case = "config." + name
        folder = ctx.copy_model(model, case)
        path = os.path.join(folder, "config.json")
        if callable(edit):
            with open(path) as f:
                config = json.load(f)
            edit(config)
            text = json.dumps(config).replace('"INF"', "1e999").encode()
        else:
            text = edit if isinstance(edit, bytes) else edit.encode()
        with open(path, "wb") as f:
            f.write(text)
        ctx.add(case, os.path.dirname(folder), ["import", "model", "-o", "out.mlir"],
                expect, outputs=["out.mlir"])

    # config.json that is not a regular file, or too large.
    for name, make, expect in [
        ("fifo", lambda p: os.mkfifo(p), r"config\.json: is not a regular file"),
        ("dev-zero", lambda p: os.symlink("/dev/zero", p), r"config\.json: is not a regular file"),
        ("folder", lambda p: os.makedirs(p), r"config\.json: is a folder, not a file"),
        ("dangling-link", lambda p: os.symlink("nowhere.json", p),
         r"config\.json: cannot open the file: No such file"),
        ("too-large", lambda p: os.truncate(p, 300 << 20) if os.path.exists(p) else None,
         r"config\.json: the file has 314572800 bytes, more than the limit of 268435456"),
    ]:
        case = "config." + name
        folder = ctx.copy_model("tiny-llama", case)
        path = os.path.join(folder, "config.json")
        if name != "too-large":
            os.remove(path)
        make(path)
        ctx.add(case, os.path.dirname(folder), ["import", "model"], expect)
