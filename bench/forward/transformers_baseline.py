# The 1.1B Llama of GPU.md (seed 0, bf16): one 1x2048 forward in transformers, timed.
# Also writes the inputs for Loom and the logits to compare (see README.md).
import json, os, sys, time
import torch
from safetensors.torch import save_file, load_file
from transformers import LlamaConfig, LlamaForCausalLM

out = sys.argv[1]
cfg = LlamaConfig(vocab_size=32000, hidden_size=2048, intermediate_size=5632, num_hidden_layers=22,
                  num_attention_heads=32, num_key_value_heads=4, max_position_embeddings=4096)
if not os.path.exists(f"{out}/model.safetensors"):
    torch.manual_seed(0)
    LlamaForCausalLM(cfg).to(torch.bfloat16).save_pretrained(out)
model = LlamaForCausalLM.from_pretrained(out, torch_dtype=torch.bfloat16).cuda().eval()
torch.manual_seed(1)
ids = torch.randint(0, 32000, (1, 2048), dtype=torch.int64)
save_file({"input_ids": ids}, f"{out}/inputs.safetensors")
with torch.no_grad():
    x = ids.cuda()
    for _ in range(3):
        logits = model(x).logits
    torch.cuda.synchronize()
    times = []
    for _ in range(10):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record(); model(x); b.record(); torch.cuda.synchronize()
        times.append(a.elapsed_time(b))
    times.sort()
    logits = model(x).logits.float().cpu()
save_file({"logits": logits}, f"{out}/torch_logits.safetensors")
print(json.dumps({"torch_forward_ms_median": times[len(times) // 2], "torch_forward_ms_min": times[0]}))
