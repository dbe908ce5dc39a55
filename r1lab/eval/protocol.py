"""The evaluation protocol of the R1 paper, for the built-in tasks and any verifier.

pass@1 is estimated from k samples per problem at temperature 0.6 and top-p 0.95 (never
greedy): the mean correctness over the k samples, averaged over problems. Grading uses the same
verifier function that served as the RL reward. Responses with no parseable answer score 0
and are also counted separately.

Beside that strict accuracy, the lenient accuracy grades the answer each response states
wherever it stands ("The answer is X", a last number; verifiers/behaviour.py), so that a format
gain is never mistaken for a reasoning gain; `behaviour` holds the rest of what
`eval.behaviour.batch_behaviour` counts (answer styles, lengths by style, reflection, aha
moments), and each sample records its style, lenient grade and reflections.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch

from r1lab.eval.behaviour import batch_behaviour, reflection_spans
from r1lab.rollout.engine import SamplingParams, generate
from r1lab.rollout.text import decode_completions, encode_prompts, stop_sequences
from r1lab.tasks import Problem, r1_zero_prompt
from r1lab.verifiers import Grade, format_reward, get_verifier


@dataclass
class EvalResult:
    accuracy: float  # pass@1 averaged over problems (mean over k samples each)
    format_rate: float  # share of responses in the strict <think>/<answer> format
    unparseable_rate: float  # share of responses with no answer the verifier could read
    mean_length: float  # mean response length in tokens
    n_problems: int
    k: int
    samples: list[dict] = field(default_factory=list, repr=False)
    lenient_accuracy: float = 0.0  # the stated answer wherever it stands, graded by the same verifier
    behaviour: dict = field(default_factory=dict)  # eval.behaviour.batch_behaviour's numbers (flat keys)

    def metrics(self) -> dict:
        d = asdict(self)
        d.pop("samples")
        return d


@torch.no_grad()
def evaluate(model, tokenizer, problems: list[Problem], verifier: str, *, k: int = 4,
             temperature: float = 0.6, top_p: float = 0.95, max_new_tokens: int = 128,
             seed: int = 0, prompts_per_batch: int = 32) -> EvalResult:
    verify = get_verifier(verifier)
    gen = torch.Generator().manual_seed(seed)
    params = SamplingParams(temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens,
                            stop_sequences=stop_sequences(tokenizer))
    was_training = model.training
    model.eval()
    correct, fmt, unparsed, lengths, samples = [], [], [], [], []
    grades, truncated, token_ids = [], [], []
    for start in range(0, len(problems), prompts_per_batch):
        chunk = problems[start:start + prompts_per_batch]
        prompt_ids = encode_prompts(tokenizer, [r1_zero_prompt(p.question) for p in chunk])
        ro = generate(model, prompt_ids, k, params, eos_token_id=tokenizer.eos_token_id,
                      pad_token_id=tokenizer.pad_token_id, generator=gen)
        texts = decode_completions(tokenizer, ro.completion_ids, ro.completion_mask)
        token_counts = ro.lengths.tolist()
        for i, text in enumerate(texts):
            prob = chunk[i // k]
            grade = verify(text, prob.answer)
            correct.append(grade.score)
            unparsed.append(grade.extracted is None)
            fmt.append(format_reward(text))
            grades.append(grade)
            samples.append({"question": prob.question, "reference": prob.answer, "response": text,
                            "length": token_counts[i], "extracted": grade.extracted, "correct": grade.correct})
        lengths += ro.lengths.tolist()
        truncated += ro.truncated.tolist()
        token_ids += [row[:n] for row, n in zip(ro.completion_ids.tolist(), token_counts, strict=True)]  # right-padded
    model.train(was_training)
    behaviour = _behaviour(samples, verifier, grades, truncated, token_ids)
    n = max(1, len(correct))
    return EvalResult(accuracy=sum(correct) / n, format_rate=sum(fmt) / n,
                      unparseable_rate=sum(unparsed) / n, mean_length=sum(lengths) / max(1, len(lengths)),
                      n_problems=len(problems), k=k, samples=samples,
                      lenient_accuracy=behaviour.pop("lenient_accuracy", 0.0), behaviour=behaviour)


def _behaviour(samples: list[dict], verifier: str, grades: list[Grade], truncated: list[bool],
               token_ids: list[list[int]]) -> dict:
    """The evaluation's behaviour numbers; each sample gains its style, lenient grade and reflections."""
    found, behaviours = batch_behaviour(
        [s["response"] for s in samples], [s["reference"] for s in samples], verifier,
        [s["length"] for s in samples], truncated, questions=[s["question"] for s in samples],
        token_ids=token_ids, strict=grades)
    for s, b in zip(samples, behaviours, strict=True):
        s.update(style=b.style, lenient_correct=b.lenient.correct, reflections=reflection_spans(b))
    return found
