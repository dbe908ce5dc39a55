"""Measure the emergence issue's "done when" numbers on `r1lab train` run directories.

    python bench/emergence.py RUN_DIR [RUN_DIR ...]              # measure finished runs
    python bench/emergence.py --train [--seed S] [--control] [--recipe FILE] [-- --field value ...]   # train first

The numbers and targets are r1lab.report.emergence's (`r1lab report` shows the same table); this
script prints them per run, writes RUN_DIR/emergence.json, and exits 1 when a target is missed.
It measures; it is not a test. A control run (`--shuffle-rewards true`) should miss them all.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

from r1lab.errors import UserError
from r1lab.report.emergence import checks, measure
from r1lab.report.load import load_run

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "emergence.yaml"


def report(m: dict) -> bool:
    b, f = m["base"], m["final"]
    print(f"\n{m['run']}")
    for name, x in (("base", b), ("final", f)):
        print(f"  {name:5s} strict {x['strict']:.3f} lenient {x['lenient']:.3f} length {x['length']:.1f} "
              f"hard/easy {x['hard_easy_ratio']:.2f} reflections {x['reflection_share']:.3f} "
              f"(productive {x['productive']}, superficial {x['superficial']}, neutral {x['neutral']}) "
              f"mixing {x['mixing']:.3f} styles {x['styles']}")
    ok = True
    for name, value, target, passed in checks(m):
        ok &= passed
        print(f"  {name:32s} {value:9.3f}  target {target:14s} {'ok' if passed else 'MISSED'}")
    return ok


def main(argv: list[str]) -> int:
    if "--train" in argv:
        seed = argv[argv.index("--seed") + 1] if "--seed" in argv else "0"
        control = "--control" in argv
        recipe = argv[argv.index("--recipe") + 1] if "--recipe" in argv else str(RECIPE)
        out = Path(f"runs/{Path(recipe).stem}-seed{seed}{'-control' if control else ''}")
        cmd = [sys.executable, "-m", "r1lab.cli", "train", "--config", recipe, "--seed", seed,
               "--output-dir", str(out)] + (["--shuffle-rewards", "true"] if control else [])
        subprocess.run(cmd + argv[argv.index("--") + 1:] if "--" in argv else cmd, check=True)
        used = resource.getrusage(resource.RUSAGE_CHILDREN)
        print(f"CPU seconds of the training process: {used.ru_utime + used.ru_stime:.0f} "
              "(about its wall time on an idle machine with --threads 1)")
        runs = [out]
    else:
        runs = [Path(a) for a in argv if not a.startswith("--")]
        if not runs:
            print(__doc__)
            return 2
    try:
        results = [measure(load_run(r)) for r in runs]
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for r, m in zip(runs, results, strict=True):
        if m is None:
            print(f"error: {r} has no summary.json or evaluation samples: not a finished r1lab train run",
                  file=sys.stderr)
            return 2
    for r, m in zip(runs, results, strict=True):
        (r / "emergence.json").write_text(json.dumps(m, indent=1))
    return 0 if all([report(m) for m in results]) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
