"""The evaluation protocol of the R1 paper, for the built-in tasks and any verifier.

pass@1 is estimated from k samples per problem at temperature 0.6 and top-p 0.95 (never
greedy): the mean correctness over the k samples, averaged over problems. Grading uses the same
verifier function that served as the RL reward, guarded as the reward path is (a verifier that
raises costs that sample only). Responses with no parseable answer score 0 and are also counted
separately. pass@k over the k samples is reported too (`pass_at_k_batch`, the unbiased estimator).

Beside that strict accuracy, the lenient accuracy grades the answer each response states
wherever it stands ("The answer is X", a last number; verifiers/behaviour.py), so that a format
gain is never mistaken for a reasoning gain; `behaviour` holds the rest of what
`eval.behaviour.batch_behaviour` counts (answer styles, lengths by style, reflection, aha
moments), and each sample records its style, lenient grade and reflections.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from r1lab.algos.passk import pass_at_k_batch
from r1lab.eval.behaviour import batch_behaviour, reflection_spans
from r1lab.rollout.engine import SamplingParams, generate
from r1lab.rollout.text import decode_completions, encode_prompts, stop_sequences
from r1lab.tasks import Problem, r1_zero_prompt
from r1lab.verifiers import Grade, format_reward, get_verifier
from r1lab.verifiers.rewards import RewardGuard


@dataclass
class EvalResult:
    accuracy: float  # pass@1 averaged over problems (mean over k samples each)
    format_rate: float  # share of responses in the strict <think>/<answer> format
    unparseable_rate: float  # share of responses with no answer the verifier could read
    mean_length: float  # mean response length in tokens
    n_problems: int
    k: int
    samples: list[dict] = field(default_factory=list, repr=False)
    pass_at_k: float = 0.0  # pass@k, k = samples per problem (unbiased estimator, algos.pass_at_k_batch)
    grading_failures: int = 0  # verifier calls that raised: graded wrong and unparseable, and logged
    lenient_accuracy: float = 0.0  # the stated answer wherever it stands, graded by the same verifier
    behaviour: dict = field(default_factory=dict)  # eval.behaviour.batch_behaviour's numbers (flat keys)


@torch.no_grad()
def evaluate(model, tokenizer, problems: list[Problem], verifier: str, *, k: int = 4,
             temperature: float = 0.6, top_p: float = 0.95, max_new_tokens: int = 128,
             seed: int = 0, prompts_per_batch: int = 32) -> EvalResult:
    gen = torch.Generator().manual_seed(seed)
    params = SamplingParams(temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens,
                            stop_sequences=stop_sequences(tokenizer))
    grader = _Grader(verifier)
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(problems), prompts_per_batch):
            chunk = problems[start:start + prompts_per_batch]
            prompt_ids = encode_prompts(tokenizer, [r1_zero_prompt(p.question) for p in chunk])
            ro = generate(model, prompt_ids, k, params, eos_token_id=tokenizer.eos_token_id,
                          pad_token_id=tokenizer.pad_token_id, generator=gen)
            texts = decode_completions(tokenizer, ro.completion_ids, ro.completion_mask)
            rows = zip(texts, ro.completion_ids.tolist(), ro.lengths.tolist(), ro.truncated.tolist(), strict=True)
            for i, (text, ids, length, cut) in enumerate(rows):
                grader.add(chunk[i // k], text, length, cut, ids[:length])  # ids right-padded
    finally:
        model.train(was_training)
    return grader.result(len(problems), k)


class _Grader:
    """Grades each response with the verifier, guarded like the reward path: a verifier that raises
    costs that one sample (wrong, unparseable, logged), never the evaluation."""

    def __init__(self, verifier: str) -> None:
        self.verifier, self.verify, self.guard = verifier, get_verifier(verifier), RewardGuard()
        self.correct, self.fmt, self.unparsed, self.lengths, self.samples = [], [], [], [], []
        self.grades, self.truncated, self.token_ids = [], [], []
        self.failures = 0

    def add(self, prob: Problem, text: str, length: int, truncated: bool, token_ids: list[int]) -> None:
        grade, failed = self.guard.call(self.verify, text, prob.answer)
        if failed:
            grade, self.failures = Grade(0.0, None), self.failures + 1
        self.grades.append(grade)
        self.truncated.append(truncated)
        self.token_ids.append(token_ids)
        self.correct.append(grade.score)
        self.unparsed.append(grade.extracted is None)
        self.fmt.append(format_reward(text))
        self.lengths.append(length)
        self.samples.append({"question": prob.question, "reference": prob.answer, "response": text,
                             "length": length, "truncated": truncated, "extracted": grade.extracted,
                             "correct": grade.correct})

    def result(self, n_problems: int, k: int) -> EvalResult:
        n = max(1, len(self.correct))
        solved = torch.tensor(self.correct).view(-1, k).gt(0).sum(-1) if self.correct else torch.zeros(0)  # (P,)
        _, passk = pass_at_k_batch(k, solved, k)
        behaviour = self.behaviour()
        return EvalResult(accuracy=sum(self.correct) / n, format_rate=sum(self.fmt) / n,
                          unparseable_rate=sum(self.unparsed) / n,
                          mean_length=sum(self.lengths) / max(1, len(self.lengths)),
                          n_problems=n_problems, k=k, samples=self.samples, pass_at_k=passk[f"pass@{k}"],
                          grading_failures=self.failures, lenient_accuracy=behaviour.pop("lenient_accuracy", 0.0),
                          behaviour=behaviour)

    def behaviour(self) -> dict:
        """The evaluation's behaviour numbers (the strict grades are these); each sample gains its
        style, lenient grade and reflections."""
        found, behaviours = batch_behaviour(
            [s["response"] for s in self.samples], [s["reference"] for s in self.samples], self.verifier,
            self.lengths, self.truncated, questions=[s["question"] for s in self.samples],
            token_ids=self.token_ids, strict=self.grades)
        for s, b in zip(self.samples, behaviours, strict=True):
            s.update(style=b.style, lenient_correct=b.lenient.correct, reflections=reflection_spans(b))
        return found
