"""A training run's losses.json must show learning: the mean loss of its last `window`
steps at most `ratio` times that of its first `window` steps.

usage: check_losses_fall.py <losses.json> [window=10] [ratio=0.5]
"""
import json
import sys


def main():
    path = sys.argv[1]
    window = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    ratio = float(sys.argv[3]) if len(sys.argv) > 3 else 0.5
    with open(path, encoding="utf-8") as f:
        losses = json.load(f)["losses"]
    if len(losses) < 2 * window:
        sys.exit(f"{path}: {len(losses)} losses, fewer than two windows of {window}")
    first = sum(losses[:window]) / window
    last = sum(losses[-window:]) / window
    print(f"{path}: mean loss of the first {window} steps {first:.4f}, "
          f"of the last {window} {last:.4f} ({last / first:.2f} of it)")
    if not last <= ratio * first:
        sys.exit(f"the loss did not fall to {ratio} of its start")
    print("ok")


if __name__ == "__main__":
    main()
