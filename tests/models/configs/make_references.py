"""Makes small Hugging Face models with configurations the shared models do not cover,
and their float32 reference outputs from `transformers` itself.

Run where torch and transformers are installed (the GPU machine has both):
    python3 make_references.py <output folder>
Each case becomes <output folder>/<name>/ with config.json, model.safetensors and
reference.safetensors (the inputs and the outputs PyTorch computed on the CPU in
float32). The results are checked in next to this script; the ctest `model.config.*`
tests run them through Loom's importer and reference executor.

Cases saved in bfloat16 are evaluated the way the shared references were: the model is
cast to bfloat16 (its RoPE inverse-frequency buffer too), saved, and cast back to
float32 for the forward pass.
"""
import os
import sys

import torch
import transformers as tf
from safetensors.torch import save_file

CASES = {
    # Llama: multi-head, q/k/v/o and MLP biases, tied embeddings, head_dim derived,
    # top-level rope_theta, a different epsilon.
    "llama-mha-bias-tied": (tf.LlamaConfig, tf.LlamaForCausalLM, torch.float32, dict(
        vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=4, attention_bias=True, mlp_bias=True,
        tie_word_embeddings=True, rope_theta=500000.0, rms_norm_eps=1e-6,
        max_position_embeddings=64)),
    # Llama: grouped-query attention with head_dim larger than hidden/heads, untied.
    "llama-gqa-head-dim": (tf.LlamaConfig, tf.LlamaForCausalLM, torch.bfloat16, dict(
        vocab_size=96, hidden_size=32, intermediate_size=80, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, head_dim=16,
        tie_word_embeddings=False, max_position_embeddings=64)),
    # Llama: multi-query attention (one KV head).
    "llama-mqa": (tf.LlamaConfig, tf.LlamaForCausalLM, torch.float32, dict(
        vocab_size=80, hidden_size=48, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=6, num_key_value_heads=1, max_position_embeddings=64)),
    "mistral-gqa": (tf.MistralConfig, tf.MistralForCausalLM, torch.float32, dict(
        vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, head_dim=8, sliding_window=None,
        max_position_embeddings=64)),
    # Qwen2: q/k/v biases (no o bias), tied embeddings, two KV heads.
    "qwen2-bias-tied": (tf.Qwen2Config, tf.Qwen2ForCausalLM, torch.bfloat16, dict(
        vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True,
        use_sliding_window=False, max_position_embeddings=64)),
    # GPT-2: two heads, explicit n_inner, exact GELU, scores also scaled by 1/(layer+1).
    "gpt2-inverse-layer-scale": (tf.GPT2Config, tf.GPT2LMHeadModel, torch.float32, dict(
        vocab_size=96, n_embd=32, n_layer=3, n_head=2, n_inner=48, n_positions=64,
        activation_function="gelu", scale_attn_by_inverse_layer_idx=True)),
    "gpt2-relu": (tf.GPT2Config, tf.GPT2LMHeadModel, torch.bfloat16, dict(
        vocab_size=96, n_embd=32, n_layer=2, n_head=4, n_positions=64,
        activation_function="relu")),
    # BERT: padding in the mask, two token types, tanh-approximated GELU.
    "bert-padding": (tf.BertConfig, tf.BertModel, torch.float32, dict(
        vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, max_position_embeddings=64, type_vocab_size=2,
        hidden_act="gelu_new")),
}


def main():
    out_root = sys.argv[1]
    for index, (name, (config_class, model_class, dtype, options)) in enumerate(CASES.items()):
        torch.manual_seed(1000 + index)
        # A wider initialization than the default makes the outputs far from zero, so
        # that relative errors mean something.
        config = config_class(initializer_range=0.25, **options)
        model = model_class(config).eval()
        folder = os.path.join(out_root, name)
        model.to(dtype).save_pretrained(folder)
        model = model.float()
        ids = torch.randint(3, config.vocab_size, (2, 7), generator=torch.Generator().manual_seed(index))
        tensors = {"input_ids": ids}
        with torch.no_grad():
            if model_class is tf.BertModel:
                mask = torch.ones(2, 7, dtype=torch.int64)
                mask[1, 5:] = 0
                types = torch.zeros(2, 7, dtype=torch.int64)
                types[0, 4:] = 1
                result = model(input_ids=ids, attention_mask=mask, token_type_ids=types)
                tensors.update(attention_mask=mask, token_type_ids=types,
                               last_hidden_state=result.last_hidden_state,
                               pooler_output=result.pooler_output)
            else:
                tensors["logits"] = model(input_ids=ids).logits
        save_file({k: v.contiguous() for k, v in tensors.items()},
                  os.path.join(folder, "reference.safetensors"))
        print(name, {k: tuple(v.shape) for k, v in tensors.items()})


if __name__ == "__main__":
    main()
