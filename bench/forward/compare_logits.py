# Max relative error and argmax agreement of two logits files (Loom vs transformers).
import sys, torch
from safetensors.torch import load_file
a = load_file(sys.argv[1])["logits"].float()
b = load_file(sys.argv[2])["logits"].float()
d = (a - b).abs().max().item() / b.abs().max().item()
agree = (a.argmax(-1) == b.argmax(-1)).float().mean().item()
print(f"loom vs torch bf16 logits: max relative error {d:.3e}, argmax agreement {agree:.4f}")
