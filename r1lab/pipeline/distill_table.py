"""The distillation table, from what `r1lab distill` wrote (distill.json).

One row per model, all on the same held-out problems (`r1lab eval`, k samples each at T=0.6,
top-p 0.95, the R1-Zero template): pass@1 over k ± its standard error over problems, cons@k,
mean length in tokens, format rate (strict R1-Zero), the student's training compute in
forward-equivalent token passes (r1lab/pipeline/compute.py; the distillation arm's includes the
teacher's sampling passes, which the RL arm is matched to), and the arm's wall time (sampling +
SFT; the RL rounds; the evaluation not included). Then the trace counts by filter.
"""

from __future__ import annotations

from r1lab.pipeline.sample import FILTERS

ROWS = (("teacher", "teacher"), ("student_before", "student, before"),
        ("student_distilled", "student, distilled (SFT on traces)"), ("student_rl", "student, R1-Zero RL from base"))


def markdown(result: dict) -> str:
    ev, k = result["evals"], result["config"]["eval_samples"]
    head = ["model", f"pass@1 over {k} (± s.e.)", f"cons@{k}", "mean length", "format", "student compute "
            "(token passes)", "of which teacher sampling", "wall s"]
    lines = [_row(head), "|" + "---|" * len(head)]
    arm = _arms(result)
    for key, label in ROWS:
        if key not in ev:
            continue
        e = ev[key]
        compute, teacher, wall = arm.get(key, ("—", "—", "—"))
        lines.append(_row([label, f"{_pct(e.get('pass@1'))} ± {_pct(e.get('pass@1_stderr'))}",
                           _pct(e.get(f"cons@{k}")), _num(e.get("mean_tokens")), _pct(e.get("format_rate")),
                           compute, teacher, wall]))
    first = ev["student_before"]
    intro = (f"Teacher {result['teacher_model']}, student {result['config']['student']}, task "
             f"{result['config']['task']}: every model on the same {first.get('n_problems', '?')} held-out problems, "
             f"{k} samples each (T={result['config']['eval_temperature']}, top-p {result['config']['eval_top_p']}).")
    return "\n".join([intro, "", *lines, "", *_traces(result["traces"])])


def _arms(result: dict) -> dict[str, tuple[str, str, str]]:
    d, sft, traces = result["distill_compute"], result["sft"], result["traces"]
    teacher = d["forward_token_passes"]  # SFT has no forward-only passes: these are the teacher's
    arms = {"student_distilled": (f"{d['total']:,}", f"{teacher:,}",
                                  f"{traces['wall_seconds'] + sft['wall_seconds']:.0f}")}
    rl = result.get("rl")
    if rl:
        arms["student_rl"] = (f"{rl['compute']['total']:,} ({rl['steps']} GRPO steps)", "—",
                              f"{rl['wall_seconds']:.0f}")
    return arms


def _traces(t: dict) -> list[str]:
    removed = ", ".join(f"{f} {t['removed_by'][f]}" for f in FILTERS)
    return [f"Traces: {t['samples']} sampled for {t['questions']} questions, {t['kept']} kept "
            f"({t['questions_kept']} questions); removed by the first filter failed, in order: {removed}."]


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _pct(x) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def _num(x) -> str:
    return "—" if x is None else f"{x:.1f}"
