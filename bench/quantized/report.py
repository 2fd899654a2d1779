# Decode tokens/s of each step artifact (bench/quantized/run.sh), the bytes of weights a
# batch-1 step reads (every weight buffer but the embedding table, of which a step reads
# one row), and the floor those bytes give at the measured copy bandwidth.
import json, os, sys

out = sys.argv[1]
device = json.load(open(f"{out}/device.json"))
bandwidth = device["copy_bandwidth_bytes_per_s"]
sizes = {"F32": 4, "F16": 2, "BF16": 2, "U8": 1, "I8": 1, "I32": 4, "I64": 8}


def weight_bytes(artifact):
    manifest = json.load(open(f"{artifact}/manifest.json"))
    embedding = {w["buffer"] for w in manifest["weights"] if "embed_tokens" in w["name"]}
    used = set()
    for w in manifest["weights"]:
        for key in ("buffer", "scales", "zeros", "mins", "perm"):
            if key in w and w[key] not in embedding:
                used.add(w[key])
    total = 0
    for b in used:
        buffer = manifest["buffers"][b]
        n = sizes[buffer["dtype"]]
        for d in buffer["shape"]:
            n *= int(d)
        total += n
    return total


print(f"copy bandwidth {bandwidth / 1e12:.2f} TB/s")
print(f"{'artifact':10s} {'b1 tok/s':>10s} {'b64 tok/s':>10s} {'GiB/step':>9s} "
      f"{'floor':>8s} {'of floor':>8s}")
base = None
for pair in sys.argv[2:]:
    name, art = pair.split("=", 1)
    def rate(batch):
        runs, r = [], 1
        while os.path.exists(f"{out}/{name}_{batch}_r{r}.json"):
            j = json.load(open(f"{out}/{name}_{batch}_r{r}.json"))
            runs.append(j["decode_tokens"] / j["decode_seconds"])
            r += 1
        return max(runs), runs
    b1, b1runs = rate("b1")
    b64, b64runs = rate("b64")
    wb = weight_bytes(art)
    floor = bandwidth / wb
    base = base or b1
    print(f"{name:10s} {b1:10.1f} {b64:10.1f} {wb / 2**30:9.3f} {floor:8.0f} {b1 / floor:8.1%}"
          f"   (b1 runs {', '.join(f'{x:.1f}' for x in b1runs)}; b64 runs "
          f"{', '.join(f'{x:.0f}' for x in b64runs)}; b1 {b1 / base:.2f}x the first)")
