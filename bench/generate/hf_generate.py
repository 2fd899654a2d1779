# The generation baseline of bench/generate: the 1.1B Llama of GPU.md (seed 0, bf16) in
# transformers, with random prompt ids as Loom's `--random-prompts` makes, greedy,
# eos ignored (min_new_tokens = max_new_tokens), timed after a warm-up, plus the
# device copy bandwidth that sets the batch-1 decode floor. Prints one JSON object.
import json, os, statistics, sys, time
import torch
from transformers import LlamaConfig, LlamaForCausalLM

out = sys.argv[1]
prompt_len, new_tokens = int(sys.argv[2]), int(sys.argv[3])
cfg = LlamaConfig(vocab_size=32000, hidden_size=2048, intermediate_size=5632, num_hidden_layers=22,
                  num_attention_heads=32, num_key_value_heads=4, max_position_embeddings=4096)
if not os.path.exists(f"{out}/model.safetensors"):
    torch.manual_seed(0)
    LlamaForCausalLM(cfg).to(torch.bfloat16).save_pretrained(out)
model = LlamaForCausalLM.from_pretrained(out, torch_dtype=torch.bfloat16).cuda().eval()
weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
result = {"weight_bytes": weight_bytes}

# Device-to-device copy bandwidth (read + write), median of 20 copies of 1 GiB.
src = torch.empty(1 << 30, dtype=torch.uint8, device="cuda"); dst = torch.empty_like(src)
times = []
for i in range(23):
    a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    a.record(); dst.copy_(src); b.record(); torch.cuda.synchronize()
    if i >= 3: times.append(a.elapsed_time(b) / 1e3)
bandwidth = 2 * src.numel() / statistics.median(times)
del src, dst
result["copy_bandwidth_bytes_per_s"] = bandwidth
result["batch1_floor_tokens_per_s"] = bandwidth / weight_bytes

def generate(batch, plen, new):
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(100, 1100, (batch, plen), generator=g).cuda()
    mask = torch.ones_like(ids)
    torch.cuda.synchronize(); t = time.perf_counter()
    with torch.no_grad():
        model.generate(ids, attention_mask=mask, max_new_tokens=new, min_new_tokens=new,
                       do_sample=False, pad_token_id=0)
    torch.cuda.synchronize()
    return time.perf_counter() - t

generate(1, prompt_len, 8)  # warm-up
torch.cuda.reset_peak_memory_stats()
ttft = statistics.median(generate(1, prompt_len, 1) for _ in range(5))
t1 = statistics.median(generate(1, prompt_len, new_tokens) for _ in range(3))
result["batch1_decode_tokens_per_s"] = (new_tokens - 1) / (t1 - ttft)
result["ttft_seconds"] = ttft
t64 = generate(64, prompt_len, new_tokens)
p64 = generate(64, prompt_len, 1)
result["batch64_decode_tokens_per_s"] = 64 * (new_tokens - 1) / (t64 - p64)
result["batch64_total_tokens_per_s"] = 64 * new_tokens / t64
# Prefill: one forward over 1 x 2048 tokens, logits for the last one (as generate does).
ids = torch.randint(100, 1100, (1, 2048)).cuda()
with torch.no_grad():
    for _ in range(3): model(ids, logits_to_keep=1)
    times = []
    for _ in range(10):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record(); model(ids, logits_to_keep=1); b.record(); torch.cuda.synchronize()
        times.append(a.elapsed_time(b) / 1e3)
result["prefill_tokens_per_s"] = 2048 / statistics.median(times)
result["peak_memory_bytes"] = torch.cuda.max_memory_allocated()
print(json.dumps(result))
