# The 1.1B Llama of shared/GPU.md (seed 0, bf16) in a folder, unless it is there already,
# and the device's copy bandwidth (for the floors), as JSON on stdout.
import json, os, sys
import torch

folder = sys.argv[1]
if not os.path.exists(os.path.join(folder, "model.safetensors")):
    from transformers import LlamaConfig, LlamaForCausalLM
    cfg = LlamaConfig(vocab_size=32000, hidden_size=2048, intermediate_size=5632,
                      num_hidden_layers=22, num_attention_heads=32, num_key_value_heads=4,
                      max_position_embeddings=4096)
    torch.manual_seed(0)
    LlamaForCausalLM(cfg).to(torch.bfloat16).save_pretrained(folder)
# Device-to-device copy of 1 GiB, median of 20.
src = torch.empty(1 << 30, dtype=torch.uint8, device="cuda")
dst = torch.empty_like(src)
times = []
for _ in range(25):
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    dst.copy_(src)
    end.record()
    torch.cuda.synchronize()
    times.append(start.elapsed_time(end) / 1e3)
times = sorted(times[5:])
print(json.dumps({"copy_bandwidth_bytes_per_s": 2 * src.numel() / times[len(times) // 2]}))
