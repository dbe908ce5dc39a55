"""Non-reasoning SFT data for the miniature: DeepSeek-R1's ~200k writing, factual QA and
translation samples, shrunk to what the built-in corpus's words allow.

Stage 3 of the R1 pipeline fine-tunes the base on the rejection-sampled reasoning data plus
non-reasoning data, so that the model keeps answering plain requests plainly. Here each row
takes one sentence of the corpus's filler prose (r1lab/models/corpus.py) and asks for one of:

* `copy`: "Repeat this sentence: S" -> S;
* `first word` / `last word`: "What is the first (last) word of: S" -> the word (plain QA);
* `tag`: "Put the word W in answer tags." -> "Here it is: <answer> W </answer>" (a format task).

Replies are in the readable format with an empty chain of thought (`<think>\\n</think>\\n` then the
answer), as R1's non-reasoning samples carry no chain of thought for simple queries.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

from r1lab.config import ConfigError, help_field
from r1lab.files import write_atomic
from r1lab.models.corpus import filler
from r1lab.runs import RunDir

EMPTY_THINK = "<think>\n</think>\n"


@dataclass
class NonReasoningConfig:
    rows: int = help_field(200, "rows to write")
    seed: int = help_field(0, "seed for the sentences and tasks")
    output_dir: str = help_field("", "output directory (data.jsonl)")

    def __post_init__(self) -> None:
        if self.rows < 1:
            raise ConfigError("rows must be >= 1")


def row(rng: random.Random) -> dict:
    sentence = filler(rng, 1)
    words = sentence.rstrip(".").split()
    kind = rng.choice(["copy", "first", "last", "tag"])
    if kind == "copy":
        question, answer = f"Repeat this sentence: {sentence}", sentence
    elif kind in ("first", "last"):
        word = words[0] if kind == "first" else words[-1]
        question, answer = f"What is the {kind} word of: {sentence}", f"{word}."
    else:
        word = rng.choice(words)
        question, answer = f"Put the word {word} in answer tags.", f"Here it is: <answer> {word} </answer>"
    return {"messages": [{"role": "user", "content": question},
                         {"role": "assistant", "content": EMPTY_THINK + answer}],
            "provenance": {"source": "corpus", "kind": kind}}


def write_nonreasoning(cfg: NonReasoningConfig) -> dict:
    """Write OUTPUT_DIR/data.jsonl (atomically: a killed run leaves none, and a re-run writes it again)."""
    rundir = RunDir(cfg.output_dir, resume=True)
    rundir.save_config(cfg)
    rng = random.Random(f"nonreasoning:{cfg.seed}")
    rows = [row(rng) for _ in range(cfg.rows)]
    write_atomic(rundir.path / "data.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    summary = {"rows": len(rows), "kinds": {k: sum(r["provenance"]["kind"] == k for r in rows)
                                            for k in ("copy", "first", "last", "tag")}}
    rundir.write_json("summary.json", summary)
    return summary
