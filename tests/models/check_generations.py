"""Greedy `loom generate` must reproduce generations.json exactly: the prompt's token
ids, every generated id, and the decoded text.

usage: check_generations.py <loom binary> <model folder or model.onnx> <generations.json>
                            [loom generate options...]
"""
import json
import subprocess
import sys


def main():
    loom, model, generations_path = sys.argv[1:4]
    options = sys.argv[4:]
    with open(generations_path, encoding="utf-8") as f:
        generations = json.load(f)
    steps = generations["greedy_max_new_tokens"]
    failures = 0
    for g in generations["generations"]:
        run = subprocess.run(
            [loom, "generate", model, "--prompt", g["prompt"], "--max-new-tokens", str(steps),
             "--show-ids"] + options, capture_output=True)
        stderr = run.stderr.decode("utf-8", "replace")
        if run.returncode != 0:
            print(f"FAIL {g['prompt']!r}: loom generate exited {run.returncode}\n{stderr}")
            failures += 1
            continue
        lines = dict(line.split(":", 1) for line in stderr.splitlines()
                     if line.startswith(("prompt ids:", "generated ids:")))
        prompt_ids = [int(t) for t in lines["prompt ids"].split()]
        output_ids = [int(t) for t in lines["generated ids"].split()]
        text = run.stdout.decode("utf-8")[:-1]  # the command ends the text with a newline
        problems = []
        if prompt_ids != g["prompt_ids"]:
            problems.append(f"prompt ids {prompt_ids}, expected {g['prompt_ids']}")
        if output_ids != g["output_ids"]:
            first = next((i for i, (a, b) in enumerate(zip(output_ids, g["output_ids"]))
                          if a != b), min(len(output_ids), len(g["output_ids"])))
            problems.append(f"generated ids differ from token {first}: {output_ids}, "
                            f"expected {g['output_ids']}")
        if text != g["text"]:
            problems.append(f"text {text!r}, expected {g['text']!r}")
        status = "FAIL" if problems else "ok"
        print(f"{status} {g['prompt']!r}: {len(output_ids)} tokens"
              + "".join("\n    " + p for p in problems))
        failures += bool(problems)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
