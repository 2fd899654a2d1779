"""Writes a small Hugging Face model folder (config.json + model.safetensors of zeros)
for importer tests. The tensor names follow the transformers checkpoints of each family.

usage: make_hf.py OUT_DIR CONFIG_JSON [--drop NAME] [--shape NAME=AxB] [--pickle-only]
"""
import json
import os
import struct
import sys


def tensors(cfg):
    t = cfg["model_type"]
    out = {}
    if t in ("llama", "mistral", "qwen2"):
        h, v, f = cfg["hidden_size"], cfg["vocab_size"], cfg["intermediate_size"]
        nh = cfg["num_attention_heads"]
        nkv = cfg.get("num_key_value_heads", nh)
        hd = cfg.get("head_dim") or h // nh
        qkv_bias = cfg.get("attention_bias", False) or t == "qwen2"
        o_bias = cfg.get("attention_bias", False)
        mlp_bias = cfg.get("mlp_bias", False)
        out["model.embed_tokens.weight"] = [v, h]
        for i in range(cfg["num_hidden_layers"]):
            p = f"model.layers.{i}."
            out[p + "input_layernorm.weight"] = [h]
            out[p + "post_attention_layernorm.weight"] = [h]
            for name, rows in (("q", nh * hd), ("k", nkv * hd), ("v", nkv * hd)):
                out[p + f"self_attn.{name}_proj.weight"] = [rows, h]
                if qkv_bias:
                    out[p + f"self_attn.{name}_proj.bias"] = [rows]
            out[p + "self_attn.o_proj.weight"] = [h, nh * hd]
            if o_bias:
                out[p + "self_attn.o_proj.bias"] = [h]
            for name, shape in (("gate", [f, h]), ("up", [f, h]), ("down", [h, f])):
                out[p + f"mlp.{name}_proj.weight"] = shape
                if mlp_bias:
                    out[p + f"mlp.{name}_proj.bias"] = [shape[0]]
        out["model.norm.weight"] = [h]
        if not cfg.get("tie_word_embeddings", False):
            out["lm_head.weight"] = [v, h]
    elif t == "gpt2":
        h, v = cfg["n_embd"], cfg["vocab_size"]
        f = cfg.get("n_inner") or 4 * h
        out["transformer.wte.weight"] = [v, h]
        out["transformer.wpe.weight"] = [cfg["n_positions"], h]
        for i in range(cfg["n_layer"]):
            p = f"transformer.h.{i}."
            for ln in ("ln_1", "ln_2"):
                out[p + ln + ".weight"] = [h]
                out[p + ln + ".bias"] = [h]
            for name, shape in (("attn.c_attn", [h, 3 * h]), ("attn.c_proj", [h, h]),
                                ("mlp.c_fc", [h, f]), ("mlp.c_proj", [f, h])):
                out[p + name + ".weight"] = shape
                out[p + name + ".bias"] = [shape[1]]
        out["transformer.ln_f.weight"] = [h]
        out["transformer.ln_f.bias"] = [h]
    elif t == "bert":
        h, v, f = cfg["hidden_size"], cfg["vocab_size"], cfg["intermediate_size"]
        e = "embeddings."
        out[e + "word_embeddings.weight"] = [v, h]
        out[e + "position_embeddings.weight"] = [cfg["max_position_embeddings"], h]
        out[e + "token_type_embeddings.weight"] = [cfg.get("type_vocab_size", 2), h]
        out[e + "LayerNorm.weight"] = [h]
        out[e + "LayerNorm.bias"] = [h]
        for i in range(cfg["num_hidden_layers"]):
            p = f"encoder.layer.{i}."
            for name, shape in (("attention.self.query", [h, h]), ("attention.self.key", [h, h]),
                                ("attention.self.value", [h, h]),
                                ("attention.output.dense", [h, h]),
                                ("intermediate.dense", [f, h]), ("output.dense", [h, f])):
                out[p + name + ".weight"] = shape
                out[p + name + ".bias"] = [shape[0]]
            for ln in ("attention.output.LayerNorm", "output.LayerNorm"):
                out[p + ln + ".weight"] = [h]
                out[p + ln + ".bias"] = [h]
        out["pooler.dense.weight"] = [h, h]
        out["pooler.dense.bias"] = [h]
    return out


def main():
    folder, config = sys.argv[1], json.loads(sys.argv[2])
    shapes = tensors(config)
    args = sys.argv[3:]
    pickle_only = False
    while args:
        flag = args.pop(0)
        if flag == "--drop":
            del shapes[args.pop(0)]
        elif flag == "--shape":
            name, dims = args.pop(0).split("=")
            shapes[name] = [int(d) for d in dims.split("x")]
        elif flag == "--pickle-only":
            pickle_only = True
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f)
    if pickle_only:
        open(os.path.join(folder, "pytorch_model.bin"), "wb").write(b"\x80\x02")
        return
    header, offset = {}, 0
    for name, shape in shapes.items():
        size = 4
        for d in shape:
            size *= d
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    blob = json.dumps(header).encode()
    with open(os.path.join(folder, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(blob)) + blob + b"\0" * offset)


main()
