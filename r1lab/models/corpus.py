"""The synthetic pretraining corpus that stands in for a base model's web text.

Documents hold problems of the built-in task families (addition, Countdown), sometimes after a
few sentences of unrelated filler prose, sometimes several to a page. Most documents state only
the final answer, as most text on the web does; a minority show column-by-column working first,
in varied wordings and wrappers, some with a "wait, check" or a corrected slip. One wrapper among
several puts the working in <think> tags and the answer in <answer> tags, as tag-delimited text
shows up in real web text. The R1-Zero template never appears, and no document pairs it with an
answer: whatever the model does under the template at step 0 is generalisation, not training.

A second "language" (`CorpusMix.second_language`, 0 by default, so the shipped base's corpus is
English only): a vocabulary in Cyrillic script for the same working words ("so far" / "итог",
"carry" / "в уме", "left" / "ещё", "wait" / "стоп"), the answer phrases and the framing. With
share f > 0, a document's question and filler are in the second language with probability f/2, and
a worked solution's working is mixed with probability f: half of those are written wholly in the
other language than the question, half switch language at a column (code-switching inside the
document). So a model pretrained on it really mixes scripts in its working, which is what
DeepSeek-R1's language-consistency reward fixes (docs/pipeline.md). Cyrillic letters take two
byte-level tokens each in the English-trained tokenizer, unless `r1lab base --extend-vocab` grows
it with the script's own tokens, as the r1-tiny recipe does.

Checks that can catch slips (issue 15's design D, docs/emergence.md; all off by default, so the
shipped base's corpus is unchanged): with `column_slip` > 0 each column's first sum is off by one
with that probability, as a hurried writer slips, and an unchecked slip carries through to a wrong
final answer. With `check_fraction` > 0 that share of worked solutions checks a quarter, half or
all of its columns by adding the column again in the other order ("4+8+1=13, 1+8+4=13"). When the
two disagree it restates the doubted claim, writes "wait" and redoes the column ("4+8+1=14,
1+8+4=13, 4+8+1=14? wait, 4+8+1=13"): the slip is caught. Some checks are themselves wrong (a false
alarm on a right sum, or a check that repeats the slip and lets it through). A passing check has no
reflective word, so "wait" marks caught (or falsely suspected) slips only. With `guess_fraction` > 0
that share of worked solutions opens with a hasty answer as a doubted claim ("36+122=168?", half of
them one digit off), which the working then confirms or replaces after a "wait". Why re-adding:
a check whose value is already on the page (an addend recovered by subtraction, or a chain taken
down to 0) was learned as a copy (designs A-C); the re-added sum is computed by the same addition
the model does at every column.

Design E (`check_verdict`, off by default): each check ends in an explicit, local verdict, so a
disagreement is a token the model can condition on rather than a comparison of two numbers a few
tokens apart: "4+8+1=13, 1+8+4=13, same" and "4+8+1=14, 1+8+4=13, not 14, wait, 4+8+1=13" (in
the second language "совпало" and "не 14, стоп, ..."). A "wait" after "same" is then visibly a
ritual, and one after "not X" is a caught slip. The redo's own re-check (half the redos) carries no
verdict, as in design D.

Pair search (design F, `pair_fraction` > 0, off by default): problems of the `pairsum` task ("Which
two of 7, 3, 12, 4 add up to 16?"). Most documents state the pair, or one claim "12+4=16"; a share
`search_fraction` of the worked ones search: each try states a pair as a guess, adds it, and compares
with the target ("7+3=16? 7+3=10, not 16, try again. 12+4=16? 12+4=16, yes."), in a random order of
pairs. Half the searchers give up after one to three misses and state an unchecked pair; a few sums
slip by one and a few verdicts are wrong, so some checks mislead. With `search_offset` (design F2)
a try writes how far its sum is from the target before its verdict ("7+3=10, off by 6, not 16"), so
that the verdict reads one digit just written instead of comparing two numbers. With `search_task`
"sumsearch" (design G) the problems are pairs and triples of numbers 1-9 ("Which three of 6, 2, 9,
4, 7 add up to 19?"), and a triple's try adds three numbers. With `pair_guess` (design H) the
corpus never states a right pair without a search: an answer given directly, or after "I guess",
is a pair of the listed numbers drawn at random (right only by chance), so a one-step answer cannot
be learned from the page and only a search finds the pair. With `search_order` "listed" (design H3)
a search tries the pairs in the order of the list (the first number with each later one, then the
second...), so the next try is a local step and no pair is tried twice, where a random order asks the
model to remember every pair it has tried. With "anchored" (design H4) each run of tries with the same
first number opens by restating the numbers left to pair it with ("Take 7 with 3, 12, 4, 9."), so the
next try copies the next number of a list just written instead of finding it in the question.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from itertools import combinations

from r1lab.tasks import TASKS, Addition, Countdown, problems

_SUBJECTS = ["The teacher", "A student", "My friend", "The class", "Our team", "The book",
             "This page", "The old farmer", "A small group", "The report", "Everyone", "The city"]
_VERBS = ["reads", "writes about", "talks about", "looks at", "explains", "remembers", "likes",
          "shares", "checks", "describes", "visits", "plans"]
_OBJECTS = ["the weather", "a long story", "the new rules", "the garden", "a simple idea",
            "the last game", "a short trip", "the market", "the old bridge", "a quiet room",
            "the evening news", "some homework", "the results", "a useful method"]
_ENDINGS = ["every day", "after lunch", "with great care", "in the morning", "for a while",
            "before the test", "at home", "on the weekend", "again and again", "without a word"]
_RU_FILLER = (
    ["Учитель", "Студент", "Мой друг", "Класс", "Наша команда", "Книга", "Старый фермер", "Город"],
    ["читает", "пишет о", "любит", "помнит", "описывает", "планирует", "смотрит на"],
    ["погоду", "длинную историю", "сад", "рынок", "старый мост", "новости", "домашнее задание"],
    ["каждый день", "после обеда", "утром", "дома", "в субботу", "весь вечер"],
)
_HEADERS = ["Worksheet", "Practice", "Homework help", "Forum post", "Notes", "Quiz", "Exercises"]


@dataclass(frozen=True)
class CorpusMix:
    worked_fraction: float = 0.3  # documents that show working before the answer
    countdown_fraction: float = 0.15  # share of problems that are Countdown, not addition
    filler_fraction: float = 0.5  # documents that open with unrelated prose
    slip_fraction: float = 0.1  # worked solutions that make and fix a slip, or re-check a step
    second_language: float = 0.0  # worked solutions with mixed working; half as many documents in it
    column_slip: float = 0.0  # design D: per column, the first sum written is off by one
    check_fraction: float = 0.0  # design D: worked solutions that re-add some columns in the other order
    guess_fraction: float = 0.0  # design D: worked solutions that open with a hasty answer, then verify it
    false_alarm: float = 0.03  # a check of a right sum that is itself wrong and flags it
    missed_slip: float = 0.15  # a check of a slip that is itself wrong and agrees with it
    check_verdict: bool = False  # design E: each check ends in a local verdict, "same" or "not X, wait"
    pair_fraction: float = 0.0  # design F: share of problems that are pair searches (task pairsum)
    search_fraction: float = 0.5  # design F: worked pair solutions that try, check and try again
    give_up: float = 0.5  # design F: searchers that stop after one to three misses with an unchecked pair
    pair_slip: float = 0.05  # design F: a try's sum written off by one
    wrong_verdict: float = 0.03  # design F: a try's verdict that contradicts its own sum
    search_offset: bool = False  # design F2: a try writes how far its sum is from the target before the verdict
    search_task: str = "pairsum"  # design G: "sumsearch" mixes in triples from 4-5 numbers
    search_order: str = "random"  # design H3: "listed" tries the pairs in the order of the list; H4: "anchored"
    pair_guess: float = 0.0  # design H: pair answers stated without a search that are a random pair of the list

    @property
    def checked(self) -> bool:
        """Design D's working (slips, checks, guesses) instead of the default's."""
        return bool(self.column_slip or self.check_fraction or self.guess_fraction)


@dataclass(frozen=True)
class Words:
    """One language's words for column working: the three wordings' phrases, the slip's, the carry's."""
    so_far: tuple[str, str, str]  # ", so far {s}{tail}, left {l}." / " ({s}{tail}; {l} left)" / ...
    carry: str
    nothing: str
    final: tuple[str, str, str]  # the last carry, per wording: "carry 1 gives {s}." ...
    wrong: str
    check: str
    answer_is: str
    work: tuple[str, str]  # "Let's work it out." and "Step by step:"
    so_it_is: str
    wait: str = "wait"  # design D's reflection word, written only where a check disagrees
    same: str = "same"  # design E's verdict on a check that agrees with the sum as written
    differs: str = "not"  # design E's verdict on one that disagrees: "not 14, wait, ..."


EN = Words((", so far {s}{tail}, left {l}.", " ({s}{tail}; {l} left)", ", we have {s}{tail}, and {l} left."),
           "carry", "nothing", ("carry 1 gives {s}.", "(1 more: {s})", "the carry makes {s}."),
           "wait, that is wrong.", "Wait, check: {a} + {b} ends in {d}. Yes, {s}.", "The answer is",
           ("Let's work it out.", "Step by step:"), "So it is")
RU = Words((", итог {s}{tail}, ещё {l}.", " ({s}{tail}; ещё {l})", ", имеем {s}{tail}, и ещё {l}."),
           "в уме", "ноль", ("в уме 1, итог {s}.", "(ещё 1: {s})", "перенос даёт {s}."),
           "стоп, неверно.", "Стоп, проверка: {a} + {b} кончается на {d}. Да, {s}.", "Ответ:",
           ("Решим.", "По шагам:"), "Итак,", "стоп", "совпало", "не")
LANGUAGES = {"en": EN, "ru": RU}


def filler(rng: random.Random, n: int, lang: str = "en") -> str:
    subjects, verbs, objects, endings = _RU_FILLER if lang == "ru" else (_SUBJECTS, _VERBS, _OBJECTS, _ENDINGS)
    return " ".join(f"{rng.choice(subjects)} {rng.choice(verbs)} {rng.choice(objects)} "
                    f"{rng.choice(endings)}." for _ in range(n))


# ----- addition ---------------------------------------------------------------------------

def _addition_question(rng: random.Random, a: int, b: int, lang: str = "en") -> str:
    if lang == "ru":
        return rng.choice([f"Сколько будет {a} + {b}?", f"Найди сумму {a} и {b}.", f"{a} + {b} = ?",
                           f"Сложи {a} и {b}."])
    return rng.choice([f"What is {a} + {b}?", f"Compute {a} + {b}.", f"Find the sum of {a} and {b}.",
                       f"{a} + {b} = ?", f"Add {a} and {b}.", f"What is the sum of {a} and {b}?"])


def addition_steps(rng: random.Random, a: int, b: int, slip: bool, langs: list[str] | None = None) -> str:
    """Column addition from the ones digit up. Each step adds the last digits of what is left,
    then writes what is left of each number with that digit chopped off, and the partial result.
    So every digit the next step needs sits at the end of a number just written: a short,
    local lookup that a small model can learn, unlike indexing into the question. `langs` gives
    each column's language ("en" or "ru"; default all English); the last carry and the check are
    in the last column's."""
    style = rng.randrange(3)
    n = max(len(str(a)), len(str(b)))
    langs = langs or ["en"] * n
    slip_at = rng.randrange(max(len(str(a)), len(str(b)))) if slip else -1
    carry, sofar, parts, x, y, i, fixed = 0, "", [], str(a), str(b), 0, False
    while x or y:
        terms = [d for d in (x[-1:], y[-1:]) if d] + (["1"] if carry else [])
        total = sum(int(t) for t in terms)
        expr = "+".join(terms) if len(terms) > 1 else f"{terms[0]}+0"
        x, y = x[:-1], y[:-1]
        w = LANGUAGES[langs[i]]
        carry, sofar = total // 10, str(total % 10) + sofar
        left = "+".join(n for n in (x, y) if n) or w.nothing
        tail = f", {w.carry} {carry}" if carry else ""
        text = f"{expr}={total}"
        if i == slip_at and rng.random() < 0.5:
            text, fixed = f"{expr}={total + rng.choice([-1, 1])}, {w.wrong} {expr}={total}", True
        parts.append(text + w.so_far[style].format(s=sofar, tail=tail, l=left))
        i += 1
    if carry:
        sofar = "1" + sofar
        parts.append(w.final[style].format(s=sofar))
    if slip_at >= 0 and not fixed:
        parts.append(w.check.format(a=a, b=b, d=(a + b) % 10, s=sofar))
    return " ".join(parts)


def _off_by_one(rng: random.Random, total: int) -> int:
    return total + 1 if total == 0 or rng.random() < 0.5 else total - 1


def _check(rng: random.Random, terms: list[str], shown: int, total: int, mix: CorpusMix) -> tuple[str, bool]:
    """The column added again in the other order: (text, agrees with the sum as written). A right
    check of a slip disagrees; a wrong one may flag a right sum or repeat the slip."""
    value = total
    if shown == total and rng.random() < mix.false_alarm:
        value = _off_by_one(rng, total)
    elif shown != total and rng.random() < mix.missed_slip:
        value = shown
    return f"{'+'.join(reversed(terms))}={value}", value == shown


def _column(rng: random.Random, w: Words, terms: list[str], checked: bool, mix: CorpusMix) -> tuple[str, int]:
    """One column's claim, with its check and redo when checked: (text, the sum carried forward)."""
    total = sum(int(t) for t in terms)
    expr = "+".join(terms)
    shown = _off_by_one(rng, total) if rng.random() < mix.column_slip else total
    text = f"{expr}={shown}"
    if not checked:
        return text, shown
    claim, agrees = _check(rng, terms, shown, total, mix)
    if agrees:
        return f"{text}, {claim}" + (f", {w.same}" if mix.check_verdict else ""), shown
    doubt = f"{w.differs} {shown}," if mix.check_verdict else f"{expr}={shown}?"
    text = f"{text}, {claim}, {doubt} {w.wait}, {expr}={total}"
    if rng.random() < 0.5:  # the redo checked again, rightly
        text += f", {'+'.join(reversed(terms))}={total}"
    return text, total


def checked_steps(rng: random.Random, a: int, b: int, mix: CorpusMix, langs: list[str] | None = None,
                  check_rate: float = 0.0) -> tuple[str, int]:
    """Design D's column addition: the default's columns (in its first wording), each of which may
    slip and, with probability `check_rate`, is re-added in the other order. Returns (working, the
    sum it arrives at), which differs from a + b when a slip went uncaught."""
    x, y = str(a), str(b)
    n = max(len(x), len(y))
    langs = langs or ["en"] * n
    carry, sofar, parts = 0, "", []
    for i in range(n):
        w = LANGUAGES[langs[i]]
        terms = [d for d in (x[-1:], y[-1:]) if d]
        terms = terms + ["1"] if carry else (terms if len(terms) > 1 else terms + ["0"])
        text, shown = _column(rng, w, terms, rng.random() < check_rate, mix)
        x, y = x[:-1], y[:-1]
        carry, sofar = shown // 10, str(shown % 10) + sofar
        left = "+".join(v for v in (x, y) if v) or w.nothing
        tail = f", {w.carry} {carry}" if carry else ""
        parts.append(text + w.so_far[0].format(s=sofar, tail=tail, l=left))
    if carry:
        sofar = str(carry) + sofar
        parts.append(w.final[0].format(s=sofar))
    return " ".join(parts), int(sofar)


def verified_guess(rng: random.Random, a: int, b: int, steps: str, arrived: int, w: Words) -> str:
    """A hasty answer first, as a doubted claim, then the working that verifies it: a guess the
    working disagrees with is restated, reflected on and replaced by the worked sum. Half the
    guesses are right; a wrong one has one digit off by one."""
    guess = a + b
    if rng.random() < 0.5:
        place = 10 ** rng.randrange(len(str(guess)))
        guess += place if (guess // place) % 10 < 9 and (guess // place > 9 or rng.random() < 0.5) else -place
    verdict = f"{a}+{b}={arrived}." if guess == arrived else f"{a}+{b}={guess}? {w.wait}, {a}+{b}={arrived}."
    return f"{a}+{b}={guess}? {steps} {verdict}"


def column_languages(rng: random.Random, lang: str, n: int) -> list[str]:
    """Mixed working for a question in `lang`: wholly the other language, or a switch at a column."""
    other = "ru" if lang == "en" else "en"
    if n < 2 or rng.random() < 0.5:
        return [other] * n
    k = rng.randrange(1, n)
    return [lang] * k + [other] * (n - k)


# ----- countdown --------------------------------------------------------------------------

def countdown_steps(rng: random.Random, nums: list[int], target: int, solution: str) -> str:
    wrong = f"{nums[0]}*{nums[1]}={nums[0] * nums[1]}, not {target}. " if rng.random() < 0.5 else ""
    return f"Try {wrong}{solution} = {target}. Yes, that works."


# ----- pair search (design F) -------------------------------------------------------------

_RETRY = ("try again", "wait", "wrong, try again")


def pair_search(rng: random.Random, nums: list[int], target: int, mix: CorpusMix, size: int = 2) -> tuple[str, str]:
    """Try pairs (or triples) in a random order, each a guess checked by adding it: (working, the
    answer stated)."""
    if mix.search_order in ("listed", "anchored"):  # designs H3, H4: in the order of the list
        tries = list(combinations(nums, size))
    elif size == 2:
        tries = [(a, b) if rng.random() < 0.5 else (b, a) for i, a in enumerate(nums) for b in nums[i + 1:]]
        rng.shuffle(tries)
    else:
        tries = [tuple(rng.sample(c, size)) for c in combinations(nums, size)]
        rng.shuffle(tries)
    budget = rng.randint(1, 3) if rng.random() < mix.give_up else len(tries)
    parts, misses = [], 0
    anchor = None
    for terms in tries:
        if mix.search_order == "anchored" and terms[0] != anchor:  # design H4: restate what is left to pair with
            anchor = terms[0]
            parts.append(f"Take {anchor} with {', '.join(map(str, nums[nums.index(anchor) + 1:]))}.")
        expr = "+".join(map(str, terms))
        shown = _off_by_one(rng, sum(terms)) if rng.random() < mix.pair_slip else sum(terms)
        hit = (shown == target) != (rng.random() < mix.wrong_verdict)
        off = f" off by {abs(target - shown)}," if mix.search_offset else ""
        if hit:
            parts.append(f"{expr}={target}? {expr}={shown},{off} yes.")
            return " ".join(parts), expr
        parts.append(f"{expr}={target}? {expr}={shown},{off} not {target}, {rng.choice(_RETRY)}.")
        misses += 1
        if misses >= budget:
            break
    expr = "+".join(map(str, rng.choice(tries)))
    return " ".join(parts) + f" So {expr}.", expr


_GUESSED = ("I guess {}.", "Maybe {}.", "{}, I think.")


def _pair(rng: random.Random, p, worked: bool, mix: CorpusMix) -> str:
    nums, target, answer = p.meta["numbers"], p.meta["target"], p.meta["solution"]
    steps = None
    if worked and rng.random() < mix.search_fraction:
        steps, answer = pair_search(rng, nums, target, mix, p.meta["size"])
    elif mix.pair_guess and rng.random() < mix.pair_guess:  # no draw when off: F-G's streams are unchanged
        answer = "+".join(map(str, rng.sample(nums, p.meta["size"])))
        steps = rng.choice(_GUESSED).format(answer) if worked else None
    elif worked:
        steps = f"{answer}={target}."
    return _frame(rng, p.question, _respond(rng, answer, steps))


# ----- documents --------------------------------------------------------------------------

def _respond(rng: random.Random, answer: str, steps: str | None, w: Words = EN) -> str:
    if steps is None:
        return rng.choice([answer, f"{w.answer_is} {answer}.", f"<answer> {answer} </answer>",
                           f"{w.so_it_is} {answer}." if w is RU else f"It is {answer}.", f"= {answer}"])
    return rng.choice([
        f"<think> {steps} </think> <answer> {answer} </answer>",
        f"<think> {steps} </think> {w.answer_is} {answer}.",
        f"{w.work[0]} {steps} {w.answer_is} {answer}.",
        f"{steps} <answer> {answer} </answer>",
        f"{w.work[1]} {steps} {w.so_it_is} {answer}.",
    ])


def _frame(rng: random.Random, question: str, response: str) -> str:
    return rng.choice([f"Q: {question}\nA: {response}", f"User: {question} Assistant: {response}",
                       f"Question: {question}\nAnswer: {response}", f"{question} {response}",
                       f"Problem: {question}\nSolution: {response}"])


def _addition(rng: random.Random, a: int, b: int, lang: str, worked: bool, slip: bool, mix: CorpusMix) -> str:
    n = max(len(str(a)), len(str(b)))
    mixed = worked and mix.second_language > 0 and rng.random() < mix.second_language
    langs = column_languages(rng, lang, n) if mixed else [lang] * n
    w = LANGUAGES[langs[-1] if worked else lang]
    if worked and mix.checked:
        check_rate = rng.choice((0.25, 0.5, 1.0)) if rng.random() < mix.check_fraction else 0.0
        steps, arrived = checked_steps(rng, a, b, mix, langs, check_rate)
        if rng.random() < mix.guess_fraction:
            steps = verified_guess(rng, a, b, steps, arrived, w)
        return _frame(rng, _addition_question(rng, a, b, lang), _respond(rng, str(arrived), steps, w))
    steps = addition_steps(rng, a, b, slip, langs) if worked else None
    return _frame(rng, _addition_question(rng, a, b, lang), _respond(rng, str(a + b), steps, w))


def documents(seed: int, mix: CorpusMix = CorpusMix()):
    """Endless stream of documents drawn from the TRAIN split of each task."""
    rng = random.Random(f"corpus:{seed}")
    adds = problems(Addition(min_digits=2, max_digits=5), "train", seed)
    cds = problems(Countdown(), "train", seed)
    pairs = problems(TASKS[mix.search_task](), "train", seed) if mix.pair_fraction > 0 else None
    bilingual = mix.second_language > 0  # else no extra draws: the English-only stream is unchanged
    while True:
        lang = "ru" if bilingual and rng.random() < mix.second_language / 2 else "en"
        parts = []
        if rng.random() < mix.filler_fraction:
            parts.append(filler(rng, rng.randint(1, 4), lang))
        if rng.random() < 0.3:
            parts.append(f"{rng.choice(_HEADERS)}:")
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            worked = rng.random() < mix.worked_fraction
            slip = rng.random() < mix.slip_fraction
            if pairs is not None and rng.random() < mix.pair_fraction:  # no draw when off: the stream is unchanged
                parts.append(_pair(rng, next(pairs), worked, mix))
            elif rng.random() < mix.countdown_fraction:
                p = next(cds)
                m = p.meta
                steps = countdown_steps(rng, m["numbers"], m["target"], m["solution"]) if worked else None
                parts.append(_frame(rng, p.question, _respond(rng, m["solution"], steps)))
            else:
                p = next(adds)
                parts.append(_addition(rng, p.meta["a"], p.meta["b"], lang, worked, slip, mix))
        yield "\n".join(parts)
