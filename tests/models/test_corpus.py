"""The corpus's second language: off by default (the shipped base's corpus is English only); when on,
Cyrillic working, code-switching inside one worked solution, right sums, and the shipped tokenizer
writes it all back byte for byte."""

import hashlib
import itertools
import random
import re
from dataclasses import replace

from r1lab.models.corpus import CorpusMix, addition_steps, checked_steps, documents
from r1lab.models.io import load_tokenizer
from r1lab.verifiers.aha import find_reflections

CYRILLIC = re.compile(r"[\u0400-\u04ff]")


def test_english_only_by_default_and_bilingual_when_asked():
    assert not any(CYRILLIC.search(d) for d in itertools.islice(documents(0), 2000))
    docs = list(itertools.islice(documents(0, CorpusMix(second_language=0.3)), 2000))
    assert 0.05 < sum(bool(CYRILLIC.search(d)) for d in docs) / len(docs) < 0.5
    # code-switching inside one worked solution: an English working line that goes on in Cyrillic
    switched = [d for d in docs for line in d.split("\n") if re.search(r"so far|we have|left", line)
                and re.search(r"итог|имеем|ещё", line)]
    assert switched
    # an English question whose working is in the second language: what the language reward must fix
    assert any(re.search(r"(What is|Compute|Add) .*(итог|имеем|ещё)", d) for d in docs)


def test_mixed_working_ends_on_the_right_sum():
    rng = random.Random(0)
    for _ in range(300):
        a, b = rng.randrange(10, 99999), rng.randrange(10, 99999)
        n = max(len(str(a)), len(str(b)))
        langs = [rng.choice(["en", "ru"]) for _ in range(n)]
        steps = addition_steps(rng, a, b, slip=rng.random() < 0.3, langs=langs)
        assert re.findall(r"\d+", steps)[-1] == str(a + b), steps
        assert bool(CYRILLIC.search(steps)) == ("ru" in langs), steps


def test_the_shipped_tokenizer_round_trips_the_second_language():
    """Continued pretraining keeps the tiny base's tokenizer: byte-level BPE, so Cyrillic (never seen
    when it was trained) falls back to bytes and decodes to the same text."""
    tok = load_tokenizer("tiny")
    docs = [d for d in itertools.islice(documents(5, CorpusMix(second_language=0.5)), 400) if CYRILLIC.search(d)]
    assert len(docs) > 50
    for d in docs:
        assert tok.decode(tok.encode(d, add_special_tokens=False)) == d


# ----- design D (issue 15): slips, re-added checks, verified guesses; off by default ----------

DESIGN_D = CorpusMix(column_slip=0.08, check_fraction=0.43, guess_fraction=0.33)
SUM = re.compile(r"(?<![\d+])(\d+(?:\+\d+)+)=(\d+)")
CHECKED = re.compile(r"(?<![\d+])(\d+(?:\+\d+)+)=(\d+), (\d+(?:\+\d+)+)=(\d+)")  # a sum, then the same re-added


def test_the_default_stream_is_unchanged():
    """The shipped base's corpus, byte for byte: design D's options draw nothing when off."""
    text = "\x00".join(itertools.islice(documents(0), 300))
    assert hashlib.sha256(text.encode()).hexdigest()[:16] == "e7bdf5c13db43b74"


def _checks(text: str) -> list[tuple[str, int, int]]:
    """(column, sum as written, value of its check) for each re-added column of `text`."""
    return [(first, int(shown), int(value)) for first, shown, again, value in CHECKED.findall(text)
            if again.split("+") == first.split("+")[::-1]]


def test_design_d_slips_are_caught_by_re_adding_and_some_checks_are_wrong():
    docs = list(itertools.islice(documents(0, DESIGN_D), 3000))
    sums = [(e, int(v)) for d in docs for e, v in SUM.findall(d) if len(e) < 8]  # column sums, not a+b claims
    assert 0.03 < sum(eval(e) != v for e, v in sums) / len(sums) < 0.15  # slips (and a few wrong checks)
    pairs = [c for d in docs for c in _checks(d)]
    caught = [p for p in pairs if eval(p[0]) != p[1] and p[2] == eval(p[0])]
    missed = [p for p in pairs if eval(p[0]) != p[1] == p[2]]
    alarms = [p for p in pairs if eval(p[0]) == p[1] != p[2]]
    assert len(pairs) > 300 and caught and missed and alarms
    assert len(missed) + len(alarms) < len(caught)
    # "wait" only after a disagreeing check (the doubted column restated) or a guess the working replaced
    text = "\n".join(docs)
    waits = list(re.finditer(r"(?<!\w)wait(?!\w)", text))
    assert len(waits) > 50
    for m in waits:
        before = text[max(0, m.start() - 120):m.start()]
        assert re.search(r"(\d+\+[\d+]+)=\d+, [\d+]+=\d+, \1=\d+\? $", before) or re.search(r"\d+\+\d+=\d+\? $",
                                                                                         before), before
    assert "wait, that is wrong" not in text  # the default's slip phrasing is replaced, not mixed in


def test_design_d_working_arrives_at_its_answer_and_reads_as_claim_check_redo():
    rng = random.Random(0)
    mix = CorpusMix(column_slip=1.0, missed_slip=0.0)
    steps, arrived = checked_steps(rng, 6287, 652, mix, check_rate=1.0)
    assert arrived == 6939  # every slip caught
    first = steps.split(" so far")[0]
    (e1, v1), (c1, w1), (e2, v2), (e3, v3) = SUM.findall(first)[:4]
    assert e1 == e2 == e3 == "7+2" and c1 == "2+7" and v1 == v2 != "9" and w1 == v3 == "9"
    assert f"7+2={v1}, 2+7=9, 7+2={v1}? wait, 7+2=9" in first
    # unchecked slips go through to the answer; no slips and no checks is the plain working
    assert checked_steps(random.Random(1), 6287, 652, mix)[1] != 6939
    plain, arrived = checked_steps(random.Random(1), 6287, 652, CorpusMix())
    assert arrived == 6939 and "628+65" in plain and "62+6" in plain and "wait" not in plain
    for seed in range(200):  # a document's stated answer is where its working arrives
        r = random.Random(seed)
        a, b = r.randrange(10, 99999), r.randrange(10, 99999)
        steps, arrived = checked_steps(r, a, b, DESIGN_D, check_rate=r.random())
        assert re.findall(r"\d+", steps)[-1] == str(arrived)


def test_a_caught_slip_is_a_productive_reflection():
    text = " <think> 7+2=8, 2+7=9, 7+2=8? wait, 7+2=9, so far 9, left nothing. </think> <answer> 9 </answer>"
    assert [r.kind for r in find_reflections(text, final_correct=True).reflections] == ["productive"]


# ----- design E (issue 15): a local verdict after each check; off by default ----------------

DESIGN_E = CorpusMix(column_slip=0.2, check_fraction=0.43, guess_fraction=0.33, check_verdict=True)


def test_design_d_and_d2_streams_are_unchanged_by_design_e():
    """D and D2's corpora (and D2 with the second language), byte for byte: the verdict draws nothing when off."""
    mixes = {"b655eda63eff35b6": CorpusMix(column_slip=0.08, check_fraction=0.43, guess_fraction=0.33),
             "5e679465e8850789": CorpusMix(column_slip=0.2, check_fraction=0.43, guess_fraction=0.33),
             "a6e57a8d8fb33cba": CorpusMix(column_slip=0.2, check_fraction=0.43, guess_fraction=0.33,
                                           second_language=0.3)}
    for digest, mix in mixes.items():
        text = "\x00".join(itertools.islice(documents(0, mix), 300))
        assert hashlib.sha256(text.encode()).hexdigest()[:16] == digest


def test_design_e_checks_end_in_same_or_not_x_and_the_redo_is_a_productive_reflection():
    steps, arrived = checked_steps(random.Random(0), 6287, 652, CorpusMix(column_slip=1.0, missed_slip=0.0,
                                                                          check_verdict=True), check_rate=1.0)
    assert arrived == 6939 and re.search(r"7\+2=(\d+), 2\+7=9, not \1, wait, 7\+2=9", steps), steps
    steps, _ = checked_steps(random.Random(0), 6287, 652, CorpusMix(false_alarm=0.0, check_verdict=True),
                             check_rate=1.0)
    assert steps.startswith("7+2=9, 2+7=9, same, so far 9") and "wait" not in steps
    docs = list(itertools.islice(documents(0, DESIGN_E), 3000))
    text = "\n".join(docs)
    assert text.count(", same,") > 300 and len(re.findall(r", not \d+, wait, ", text)) > 50
    # every check ends in its verdict, and "not X" names the sum the check disagreed with (a redo's own
    # re-check, after "wait", has none: it follows the reflection, as in design D)
    for redo, first, shown, again, value, verdict in re.findall(
            r"(wait, )?(?<![\d+])(\d+(?:\+\d+)+)=(\d+), (\d+(?:\+\d+)+)=(\d+)(, same|, not \d+)?", text):
        if again.split("+") == first.split("+")[::-1] and not redo:
            assert verdict == (", same" if shown == value else f", not {shown}")
    # each caught slip reads as a productive reflection; a false alarm (a right sum doubted) does not
    caught = re.findall(r"(?<![\d+])((\d+(?:\+\d+)+)=(\d+), [\d+]+=\d+, not \d+, wait, [\d+]+=\d+)", text)
    assert len(caught) > 50
    for snippet, expr, shown in caught:
        kinds = [r.kind for r in find_reflections(snippet, final_correct=True).reflections]
        assert kinds == (["neutral"] if eval(expr) == int(shown) else ["productive"]), snippet
    ru = "\n".join(itertools.islice(documents(0, CorpusMix(column_slip=0.2, check_fraction=0.43,
                                                           second_language=0.5, check_verdict=True)), 2000))
    assert "совпало" in ru and re.search(r", не \d+, стоп, ", ru)


# ----- design F (issue 15): pair search; off by default ---------------------------------------

def test_pair_search_tries_pairs_checks_each_and_its_misses_read_as_productive_reflections():
    from r1lab.models.corpus import pair_search
    from r1lab.tasks import PairSum, take
    clean = CorpusMix(give_up=0.0, pair_slip=0.0, wrong_verdict=0.0)
    for p in take(PairSum(), "test", 50, seed=0):
        nums, target = p.meta["numbers"], p.meta["target"]
        steps, answer = pair_search(random.Random(p.question), nums, target, clean)
        assert sorted(answer.split("+")) == sorted(p.meta["solution"].split("+")) and steps.endswith("yes.")
        tries = re.findall(r"(\d+)\+(\d+)=(\d+)\? \1\+\2=(\d+), (yes|not \3)", steps)
        assert len(tries) == steps.count("?") and all(int(t[2]) == target for t in tries)
        assert len({frozenset(t[:2]) for t in tries}) == len(tries) <= len(nums) * (len(nums) - 1) // 2
        kinds = [r.kind for r in find_reflections(steps, final_correct=True).reflections]
        assert kinds == ["productive"] * (len(tries) - 1)  # each miss, rejected on its sum, then found
    # design F2 writes the gap before the verdict; the misses still read as productive reflections
    gap = CorpusMix(give_up=0.0, pair_slip=0.0, wrong_verdict=0.0, search_offset=True)
    steps, answer = pair_search(random.Random(3), [7, 3, 12, 4, 9], 16, gap)
    assert answer in ("7+9", "9+7") and steps.endswith("off by 0, yes.") and ", off by 6, not 16, " in steps
    kinds = [r.kind for r in find_reflections(steps, final_correct=True).reflections]
    assert kinds and set(kinds) == {"productive"}
    # design G: triples are tried the same way, three numbers at a time
    steps, answer = pair_search(random.Random(5), [6, 2, 9, 4, 7], 19, gap, size=3)
    assert sorted(map(int, answer.split("+"))) == [4, 6, 9] and steps.endswith("off by 0, yes.")
    assert all(len(t.split("+")) == 3 for t in re.findall(r"([\d+]+)=19\?", steps))
    assert set(r.kind for r in find_reflections(steps, final_correct=True).reflections) <= {"productive"}
    # design H3: in the order of the list, every pair at most once, up to the right one
    listed = CorpusMix(give_up=0.0, pair_slip=0.0, wrong_verdict=0.0, search_offset=True, search_order="listed")
    steps, answer = pair_search(random.Random(3), [7, 3, 12, 4, 9], 16, listed)
    assert re.findall(r"(\d+\+\d+)=16\?", steps) == ["7+3", "7+12", "7+4", "7+9"] and answer == "7+9"
    steps, answer = pair_search(random.Random(3), [7, 3, 12, 4, 9], 16, replace(listed, give_up=1.0))
    assert re.findall(r"(\d+\+\d+)=16\?", steps) in (["7+3"], ["7+3", "7+12"], ["7+3", "7+12", "7+4"])
    # design H4: the same order, each first number opening with the numbers left to pair it with
    steps, answer = pair_search(random.Random(3), [7, 3, 12, 4, 9], 7, replace(listed, search_order="anchored"))
    assert steps.startswith("Take 7 with 3, 12, 4, 9. 7+3=7? ") and " Take 3 with 12, 4, 9. 3+12=7? " in steps
    assert answer == "3+4" and steps.endswith("3+4=7, off by 0, yes.") and "Take 12" not in steps
    assert set(r.kind for r in find_reflections(steps, final_correct=True).reflections) == {"productive"}
    # a searcher that gives up states a pair it did not check
    steps, answer = pair_search(random.Random(1), [1, 2, 3, 4, 5, 6], 11, CorpusMix(give_up=1.0, wrong_verdict=0.0))
    assert " So " in steps and 1 <= steps.count("?") <= 3


def test_pair_documents_only_when_asked_and_searches_are_a_minority_of_them():
    assert not any("add up to" in d for d in itertools.islice(documents(0), 2000))
    docs = list(itertools.islice(documents(0, CorpusMix(pair_fraction=0.7)), 2000))
    pair_docs = sum(d.count("add up to") for d in docs)
    searches = sum(len(re.findall(r"\d+\+\d+=\d+\? ", d.split("?", 1)[-1])) > 0 for d in docs)
    assert pair_docs > 1500 and 0.05 < searches / pair_docs < 0.25


def _stated_pairs(mix: CorpusMix, n: int = 3000) -> tuple[int, int]:
    """(right, all) over the pair answers stated without a search in the first n documents."""
    right = total = 0
    for doc in itertools.islice(documents(0, mix), n):
        for _nums, target, rest in re.findall(r"Which two of ([\d, ]+) add up to (\d+)\?(.*?)(?=Which two|$)", doc,
                                             flags=re.S):
            first = rest.strip().split("\n")[0]
            if "?" in first or " So " in first:  # a search, or a searcher that gave up
                continue
            stated = re.search(r"(\d+)\+(\d+)", rest)
            if stated:
                total += 1
                right += int(stated[1]) + int(stated[2]) == int(target)
    return right, total


def test_pair_guess_makes_every_pair_stated_without_a_search_a_random_one():
    # design H: the page never gives the right pair without a search, so a one-step answer cannot be learned
    right, total = _stated_pairs(CorpusMix(pair_fraction=0.7, worked_fraction=0.35))
    assert total > 1000 and right == total  # off: every stated pair is the right one
    right, total = _stated_pairs(CorpusMix(pair_fraction=0.7, worked_fraction=0.35, pair_guess=1.0))
    assert total > 1000 and 0.05 < right / total < 0.2  # on: chance, about 1 in 8 over 3-6 numbers
    docs = list(itertools.islice(documents(0, CorpusMix(pair_fraction=0.7, worked_fraction=0.35, pair_guess=1.0)),
                                 3000))
    assert any(re.search(r"<think> (I guess|Maybe) \d+\+\d+\. </think>", d) for d in docs)


def _verdicts(mix: CorpusMix, n: int = 1500) -> tuple[int, int, int]:
    """(tries, sums written wrong, verdicts that contradict their own written sum) in the first n documents."""
    tries = slips = wrong = 0
    for doc in itertools.islice(documents(0, mix), n):
        for a, b, target, shown, verdict in re.findall(r"(\d+)\+(\d+)=(\d+)\? \1\+\2=(\d+), (yes|not \3)", doc):
            tries += 1
            slips += int(a) + int(b) != int(shown)
            wrong += (verdict == "yes") != (shown == target)
    return tries, slips, wrong


def test_base_config_sets_how_often_a_search_misleads():
    from r1lab.models.base_config import BaseConfig
    from r1lab.models.pretrain import corpus_mix
    search = dict(pair_fraction=0.7, worked_fraction=0.35, search_fraction=1.0)
    tries, slips, wrong = _verdicts(corpus_mix(BaseConfig(**search)))
    assert tries > 1000 and 0.02 < slips / tries < 0.09 and 0.01 < wrong / tries < 0.06  # defaults: 5% and 3%
    tries, slips, wrong = _verdicts(corpus_mix(BaseConfig(**search, search_slip=0.0, search_wrong_verdict=0.0)))
    assert tries > 1000 and slips == wrong == 0
    tries, slips, wrong = _verdicts(corpus_mix(BaseConfig(**search, search_slip=0.3, search_wrong_verdict=0.2)))
    assert 0.25 < slips / tries < 0.35 and 0.15 < wrong / tries < 0.25
