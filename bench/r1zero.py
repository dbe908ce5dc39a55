"""Run `r1lab train` with its defaults and check the R1-Zero "done when" numbers.

    python bench/r1zero.py [--output-dir DIR] [extra --field value overrides]

Prints the summary numbers against their targets: final accuracy >= 0.9, base accuracy <= 0.4,
final mean length >= 1.5x the base's, final format rate >= 0.95, and wall time <= 600 s.
Exits 1 when a target is missed. It measures; it is not a test.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    out = None
    if "--output-dir" in argv:
        out = argv[argv.index("--output-dir") + 1]
    else:
        out = tempfile.mkdtemp(prefix="r1zero-")
        argv = argv + ["--output-dir", out]
    t0 = time.time()
    subprocess.run([sys.executable, "-m", "r1lab.cli", "train", *argv], check=True)
    wall = time.time() - t0
    s = json.loads((Path(out) / "summary.json").read_text())
    checks = [
        ("final_accuracy", s["final_accuracy"], ">= 0.90", s["final_accuracy"] >= 0.9),
        ("base_accuracy", s["base_accuracy"], "<= 0.40", s["base_accuracy"] <= 0.4),
        ("length ratio", s["final_mean_length"] / max(1e-9, s["base_mean_length"]), ">= 1.50",
         s["final_mean_length"] >= 1.5 * s["base_mean_length"]),
        ("final_format_rate", s["final_format_rate"], ">= 0.95", s["final_format_rate"] >= 0.95),
        ("wall seconds (process)", wall, "<= 600", wall <= 600),
    ]
    print(f"\nR1-Zero check ({out}): base length {s['base_mean_length']:.1f} -> "
          f"final {s['final_mean_length']:.1f} tokens")
    for name, value, target, ok in checks:
        print(f"  {name:24s} {value:8.3f}  target {target:8s} {'ok' if ok else 'MISSED'}")
    return 0 if all(c[3] for c in checks) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
