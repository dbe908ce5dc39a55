"""Does a base compute its checks or copy them, and do its checks pay? (issue 15, docs/emergence.md)

    python bench/checks_probe.py MODEL_DIR [--probes 200] [--problems 64] [--samples 8] [--seed 0]
    python bench/checks_probe.py RUN_DIR --run          # checking over an `r1lab train` run

Two measurements of a base pretrained on design D's corpus (`r1lab base --column-slip ...`):

1. **Copy or compute.** Teacher-force the R1-Zero prompt of "What is a + b?", then the opening of
   its working with the first column's sum written right or slipped by one, then the check's
   re-added expression, in the corpus's own form (" <think> 7+5=13, 5+7=") and, as a second form,
   with the word " check " before it; let greedy decoding write the check's value. It is
   *computed* if it is the true column sum, *copied* if it is the slipped sum on the page. A check
   that copies agrees with every slip and can never catch one (designs A-C). The same for a
   column with a carry ("...left 4+6. 4+6+1=12, 1+6+4="), where the first column is worked right.
2. **Does checking pay.** Sample `samples` responses at T=1.0 to each of `problems` held-out
   arithmetic-mixed problems under the R1-Zero template (as `r1lab train` does at step 0) and
   read every column of the worked ones: a column's first sum (not a check, not a restated
   doubted claim "7+2=8?", not a redo after "wait"), whether it slipped, whether a check of it
   (the next claim, its terms reversed) followed, what the check said, and whether a redo with the
   true sum followed, and whether the digit the next "so far" writes is the true sum's (the slip
   fixed, with or without a "wait"). Per difficulty (digits of the longer operand): the lenient accuracy of worked
   responses with at least one check against those with none, the share of slips caught, and the
   accuracy of worked responses whose column sums are all right (or fixed): what is wrong there
   (a misread digit, a final answer that is not the working's) no column check can catch.

3. **Verdicts** (design E, `--check-verdict`): teacher-force a right or slipped first column and
   its re-added expression, then let greedy decoding go on: does it write "same" after an
   agreeing check and "not X, wait" and the redo after a disagreeing one? At T=1.0, each
   check's verdict is read too: disagreeing checks followed by "not X" and a "wait", agreeing
   checks followed by a "wait" anyway (a ritual).

It measures; it is not a test.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
from collections import defaultdict

import torch

from r1lab.models.io import load
from r1lab.rollout.engine import SamplingParams, generate
from r1lab.rollout.text import decode_completions, encode_prompts, stop_sequences
from r1lab.tasks import get_task, r1_zero_prompt, take
from r1lab.verifiers.aha import parse_claims
from r1lab.verifiers.behaviour import analyse, own_part


def _greedy_number(model, tok, text: str) -> int | None:
    ids = tok(text, return_tensors="pt").input_ids
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=4, do_sample=False, pad_token_id=tok.pad_token_id)
    digits = ""
    for ch in tok.decode(out[0, ids.shape[1]:]):
        if not ch.isdigit():
            break
        digits += ch
    return int(digits) if digits else None


def copy_probe(model, tok, n: int, seed: int) -> dict:
    """{form: {right|slip: {computed, copied, other}}} over n probes per form and kind."""
    rng = random.Random(seed)
    res = {f: {k: {"computed": 0, "copied": 0, "other": 0} for k in ("right", "slip")}
           for f in ("plain", "check word", "carry column")}
    for _ in range(n):
        x, y = rng.randint(1, 9), rng.randint(1, 9)
        a, b = rng.randint(10, 99) * 10 + x, rng.randint(10, 99) * 10 + y
        # a column with a carry: first column sums to >= 10, the second column adds the carry
        x0, y0 = rng.randint(2, 9), rng.randint(2, 9)
        while x0 + y0 < 10:
            x0, y0 = rng.randint(2, 9), rng.randint(2, 9)
        x1, y1 = rng.randint(1, 8), rng.randint(1, 8)
        a2, b2 = rng.randint(1, 9) * 100 + x1 * 10 + x0, rng.randint(1, 9) * 100 + y1 * 10 + y0
        for kind in ("right", "slip"):
            d = 0 if kind == "right" else rng.choice([-1, 1])
            s = x + y + d
            forms = {
                "plain": (a, b, f" <think> {x}+{y}={s}, {y}+{x}=", x + y, s),
                "check word": (a, b, f" <think> {x}+{y}={s}, check {y}+{x}=", x + y, s),
                "carry column": (a2, b2, f" <think> {x0}+{y0}={x0 + y0}, so far {(x0 + y0) % 10}, carry 1, left "
                                 f"{a2 // 10}+{b2 // 10}. {x1}+{y1}+1={x1 + y1 + 1 + d}, 1+{y1}+{x1}=",
                                 x1 + y1 + 1, x1 + y1 + 1 + d),
            }
            for form, (p, q, prefix, computed, copied) in forms.items():
                got = _greedy_number(model, tok, r1_zero_prompt(f"What is {p} + {q}?") + prefix)
                res[form][kind]["computed" if got == computed else "copied" if got == copied else "other"] += 1
    return res


def verdict_probe(model, tok, n: int, seed: int) -> dict:
    """{right|slip: {same, not_wait_fixed, not_wait, not, other, p_not}}: what greedy decoding writes after a
    check, and the mean share of the verdict's probability on " not" after a right check value."""
    rng = random.Random(seed + 7)
    res = {k: dict.fromkeys(("same", "not_wait_fixed", "not_wait", "not", "other"), 0) for k in ("right", "slip")}
    for _ in range(n):
        x, y = rng.randint(1, 9), rng.randint(1, 9)
        a, b = rng.randint(10, 99) * 10 + x, rng.randint(10, 99) * 10 + y
        for kind in ("right", "slip"):
            s = x + y + (0 if kind == "right" else rng.choice([-1, 1]))
            ids = tok(r1_zero_prompt(f"What is {a} + {b}?") + f" <think> {x}+{y}={s}, {y}+{x}=",
                      return_tensors="pt").input_ids
            with torch.no_grad():
                out = model.generate(ids, max_new_tokens=20, do_sample=False, pad_token_id=tok.pad_token_id)
            got = tok.decode(out[0, ids.shape[1]:])
            m = re.match(rf"(\d+), (?:(same)|not {s}(, wait, {x}\+{y}=(\d+))?)", got)
            key = ("other" if not m else "same" if m[2] else "not" if not m[3]
                   else "not_wait_fixed" if int(m[4]) == x + y else "not_wait")
            res[kind][key] += 1
            res[kind].setdefault("p_not", []).append(_p_not(model, tok, r1_zero_prompt(f"What is {a} + {b}?")
                                                           + f" <think> {x}+{y}={s}, {y}+{x}={x + y},"))
    for kind in res:  # the mean, over probes, of P(" not") / (P(" not") + P(" same")) after a right check
        res[kind]["p_not"] = _r(res[kind]["p_not"])
    return res


def _p_not(model, tok, prefix: str) -> float:
    """Teacher-forced: how much of the verdict's mass, " not" against " same", goes to " not"."""
    lps = []
    for word in (" not", " same"):
        ids = tok(prefix + word, return_tensors="pt").input_ids
        n = len(tok(word, add_special_tokens=False).input_ids)
        with torch.no_grad():
            logp = model(ids).logits[0, :-1].log_softmax(-1)
        lps.append(sum(logp[i - 1, ids[0, i]].item() for i in range(ids.shape[1] - n, ids.shape[1])))
    return 1 / (1 + torch.exp(torch.tensor(lps[1] - lps[0])).item())


_SO_FAR = re.compile(r"so far (\d+)")


def _is_column(c) -> bool:
    terms = c.expr.split("+")
    return len(terms) > 1 and all(t.isdigit() and len(t) == 1 for t in terms)


def columns(text: str) -> list[dict]:
    """Each column's first sum in `text` with what followed it: slipped, checked, check value, redone."""
    claims = [c for c in parse_claims(text) if _is_column(c)]
    out, checks = [], set()
    for i, c in enumerate(claims):
        if i in checks or text[c.end:c.end + 1] == "?" or "wait" in text[max(0, c.start - 8):c.start].lower():
            continue
        nxt = claims[i + 1] if i + 1 < len(claims) else None
        checked = (nxt is not None and nxt.expr.split("+") == c.expr.split("+")[::-1]
                   and text[c.end:nxt.start] == ", ")
        if checked:
            checks.add(i + 1)
        later = claims[i + 2:i + 5] if checked else []
        so_far = _SO_FAR.search(text, c.end)
        carried = int(so_far.group(1)[0]) if so_far and so_far.start() - c.end < 80 else None
        after = text[nxt.end:nxt.end + 30] if checked else ""
        out.append({"verdict_not": after.startswith(", not "), "verdict_same": after.startswith(", same"),
                    "wait_after": checked and "wait" in after.split("so far")[0],
                    "slip": not c.correct, "text": text[c.start:nxt.end + 40] if checked else "", "checked": checked,
                    "check_true": checked and nxt.correct, "check_agrees": checked and nxt.stated == c.stated,
                    "redone": any(x.expr == c.expr and x.correct for x in later),
                    "fixed": carried == c.true % 10})
    return out


def pays_off(model, tok, n_problems: int, k: int, seed: int, max_new: int = 320) -> dict:
    probs = take(get_task("arithmetic-mixed"), "test", n_problems, seed=seed)
    params = SamplingParams(temperature=1.0, top_p=1.0, max_new_tokens=max_new, stop_sequences=stop_sequences(tok))
    by = defaultdict(lambda: defaultdict(list))
    texts = []
    for lo in range(0, len(probs), 16):
        chunk = probs[lo:lo + 16]
        ro = generate(model, encode_prompts(tok, [r1_zero_prompt(p.question) for p in chunk]), k, params,
                      eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                      generator=torch.Generator().manual_seed(seed + lo))
        texts += [(chunk[i // k], t) for i, t in enumerate(decode_completions(tok, ro.completion_ids,
                                                                              ro.completion_mask))]
    for p, t in texts:
        b = analyse(t, p.answer, "number")
        d = by[p.meta["difficulty"]]
        d["all"].append(b.lenient.score)
        if not b.style.startswith("worked"):
            continue
        cols = columns(own_part(t))
        d["checked" if any(c["checked"] for c in cols) else "unchecked"].append(b.lenient.score)
        if not any(c["slip"] and not c["fixed"] for c in cols):  # every column sum right, or fixed
            d["sums_right"].append(b.lenient.score)
        d["cols"] += cols
    table = {}
    for diff, d in sorted(by.items()):
        cols = d["cols"]
        slips = [c for c in cols if c["slip"]]
        table[diff] = {
            "responses": len(d["all"]), "lenient": _r(d["all"]),
            "worked_checked": [len(d["checked"]), _r(d["checked"])],
            "worked_unchecked": [len(d["unchecked"]), _r(d["unchecked"])],
            "worked_sums_right": [len(d["sums_right"]), _r(d["sums_right"])],
            "columns": len(cols), "checked_share": _r([c["checked"] for c in cols]),
            "slips": len(slips), "slip_rate": _r([c["slip"] for c in cols]),
            "slips_checked": sum(c["checked"] for c in slips),
            "slips_check_disagrees": sum(c["checked"] and not c["check_agrees"] for c in slips),
            "slips_caught": sum(c["checked"] and not c["check_agrees"] and c["redone"] for c in slips),
            "checks_of_slips_agreeing": sum(c["check_agrees"] for c in slips),
            "checked_slips_fixed": sum(c["fixed"] for c in slips if c["checked"]),
            "unchecked_slips_fixed": sum(c["fixed"] for c in slips if not c["checked"]),
            "disagreeing_checks": sum(c["checked"] and not c["check_agrees"] for c in cols),
            "disagreeing_with_not_wait": sum(c["checked"] and not c["check_agrees"] and c["verdict_not"]
                                             and c["wait_after"] for c in cols),
            "agreeing_checks": sum(c["check_agrees"] for c in cols),
            "agreeing_same": sum(c["check_agrees"] and c["verdict_same"] for c in cols),
            "agreeing_then_wait": sum(c["check_agrees"] and c["wait_after"] for c in cols),
            "check_accuracy": _r([c["check_true"] for c in cols if c["checked"]]),
        }
    checked_slips = [c["text"] for d in by.values() for c in d["cols"] if c["slip"] and c["checked"]]
    return {"table": table, "examples": [t[:300] for _, t in texts[:: max(1, len(texts) // 6)]],
            "checked_slips": checked_slips}


def run_checks(run: str, every: int = 10) -> list[dict]:
    """Checking over a training run, from its samples.jsonl (every response logged): per block of
    `every` steps, the share of columns checked, the column slip rate, the share of slips checked
    and fixed, and lenient accuracy; then the base and final evaluations."""
    rows = [json.loads(line) for line in open(f"{run}/samples.jsonl") if line.strip()]
    blocks = defaultdict(list)
    for r in rows:
        blocks[r["phase"] if r["phase"] != "train" else f"steps {(r['step'] - 1) // every * every + 1}+"].append(r)
    out = []
    for name, rs in blocks.items():
        cols = [c for r in rs for c in columns(own_part(r["response"]))]
        slips = [c for c in cols if c["slip"]]
        out.append({"block": name, "responses": len(rs),
                    "lenient": _r(analyse(r["response"], r["reference"], "number").lenient.score for r in rs),
                    "columns_per_response": round(len(cols) / len(rs), 2),
                    "checked_share": _r(c["checked"] for c in cols), "slip_rate": _r(c["slip"] for c in cols),
                    "slips_checked": _r(c["checked"] for c in slips), "slips_fixed": _r(c["fixed"] for c in slips),
                    "slips_caught_with_wait": sum(c["checked"] and not c["check_agrees"] and c["redone"]
                                                  for c in slips),
                    "agreeing_checks_then_wait": sum(c["check_agrees"] and c["wait_after"] for c in cols),
                    "disagreeing_checks_not_wait": sum(c["checked"] and not c["check_agrees"] and c["verdict_not"]
                                                       and c["wait_after"] for c in cols)})
    return out


def _r(xs) -> float | None:
    xs = [float(x) for x in xs]
    return round(statistics.fmean(xs), 3) if xs else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", help="a model directory, or with --run a training run directory")
    ap.add_argument("--run", action="store_true", help="read checking over a training run's samples.jsonl")
    ap.add_argument("--probes", type=int, default=200)
    ap.add_argument("--problems", type=int, default=64)
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--check-verdict", action="store_true", help="also the verdict probe (design E)")
    ap.add_argument("--skip-pays", action="store_true", help="the copy probe only")
    args = ap.parse_args()
    if args.run:
        for row in run_checks(args.model):
            print(json.dumps(row))
        return
    torch.set_num_threads(args.threads)
    model, tok = load(args.model)
    model.eval()
    print(json.dumps({"copy_probe": copy_probe(model, tok, args.probes, args.seed)}))
    if args.check_verdict:
        print(json.dumps({"verdict_probe": verdict_probe(model, tok, args.probes, args.seed)}))
    if not args.skip_pays:
        out = pays_off(model, tok, args.problems, args.samples, args.seed)
        for diff, row in out["table"].items():
            print(json.dumps({"digits": diff, **row}))
        for t in out["examples"]:
            print(repr(t))
        print("checked slips, as written:")
        for t in out["checked_slips"]:
            print(repr(t))


if __name__ == "__main__":
    main()
