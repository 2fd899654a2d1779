# Ratios of bench/generate: Loom's serving engine against transformers generate.
import json, sys
out = sys.argv[1]
hf = json.load(open(f"{out}/transformers.json"))
ttft = json.load(open(f"{out}/loom_ttft.json"))
b1 = json.load(open(f"{out}/loom_b1.json"))
b64 = json.load(open(f"{out}/loom_b64.json"))
pre = json.load(open(f"{out}/loom_prefill.json"))
loom_b1 = b1["decode_tokens"] / b1["decode_seconds"]
loom_b64 = b64["decode_tokens"] / b64["decode_seconds"]
loom_prefill = pre["prompt_tokens"] / pre["prefill_seconds"]
floor = hf["batch1_floor_tokens_per_s"]
rows = [
    ("batch-1 decode tokens/s", loom_b1, hf["batch1_decode_tokens_per_s"]),
    ("batch-64 decode tokens/s", loom_b64, hf["batch64_decode_tokens_per_s"]),
    ("prefill tokens/s (1x2048)", loom_prefill, hf["prefill_tokens_per_s"]),
    ("time to first token s", ttft["mean_ttft_seconds"], hf["ttft_seconds"]),
]
print(f"{'':28s} {'loom':>12s} {'transformers':>13s} {'ratio':>7s}")
for name, a, b in rows:
    ratio = b / a if name.startswith("time") else a / b
    print(f"{name:28s} {a:12.1f} {b:13.1f} {ratio:6.2f}x" if a > 1 else
          f"{name:28s} {a:12.4f} {b:13.4f} {ratio:6.2f}x")
print(f"batch-1 bandwidth floor: {floor:.0f} tokens/s ({hf['weight_bytes']/2**30:.2f} GiB of weights "
      f"at {hf['copy_bandwidth_bytes_per_s']/1e12:.2f} TB/s); Loom reaches {loom_b1/floor:.1%} of it")
print(f"device memory: Loom {b64['device_bytes_used']/2**30:.2f} GiB in use (KV cache "
      f"{b64['kv_cache_bytes']/2**30:.2f} GiB); transformers peak allocated "
      f"{hf['peak_memory_bytes']/2**30:.2f} GiB")
