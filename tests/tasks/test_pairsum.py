"""The pair-search task (issue 15, design F) and its verifier: one right pair per problem."""

from itertools import combinations
from math import comb

import pytest

from r1lab.tasks import PairSum, get_task, take
from r1lab.verifiers import get_verifier, verify_pairsum


def test_every_problem_has_exactly_one_pair_and_difficulty_is_how_many_pairs():
    probs = take(get_task("pairsum"), "test", 300, seed=0)
    assert {p.meta["difficulty"] for p in probs} == {3, 6, 10, 15}  # candidate pairs of 3-6 numbers
    for p in probs:
        nums, target = p.meta["numbers"], p.meta["target"]
        assert comb(len(nums), 2) == p.meta["difficulty"] and len(nums) == len(set(nums)) and max(nums) <= 15
        assert [x + y == target for x, y in combinations(nums, 2)].count(True) == 1
        assert p.question == f"Which two of {', '.join(map(str, nums))} add up to {target}?"
        assert verify_pairsum(f"<answer> {p.meta['solution']} </answer>", p.answer).score == 1.0
    assert get_task("pairsum").verifier == "pairsum" and isinstance(get_task("pairsum"), PairSum)


@pytest.mark.parametrize("answer, score", [
    ("12+4", 1.0), ("4 + 12", 1.0), ("12+4=16", 1.0), ("7+9", 0.0),  # 7+9 is 16, but 9 is not listed
    ("12+3", 0.0), ("8+8", 0.0), ("16", 0.0), ("12*4-32", 0.0), ("12+4+0", 0.0)])
def test_verifier_wants_two_listed_numbers_that_add_up(answer, score):
    reference = "[7, 3, 12, 4, 8] -> 16"
    grade = get_verifier("pairsum")(f"<think> x </think> <answer> {answer} </answer>", reference)
    assert grade.score == score
    assert verify_pairsum("12+4", reference).extracted is None  # no tag, no answer
    assert verify_pairsum("<answer>8+8</answer>", "[8, 8, 3] -> 16").score == 1.0  # two entries of the list


def test_sumsearch_mixes_pairs_and_triples_each_with_one_answer_and_the_verifier_wants_its_size():
    probs = take(get_task("sumsearch"), "test", 300, seed=0)
    assert {p.meta["size"] for p in probs} == {2, 3} and max(max(p.meta["numbers"]) for p in probs) <= 9
    for p in probs:
        nums, target, k = p.meta["numbers"], p.meta["target"], p.meta["size"]
        assert [sum(c) == target for c in combinations(nums, k)].count(True) == 1
        assert p.meta["difficulty"] == comb(len(nums), k) and len(nums) > k
        assert p.question.startswith("Which two of " if k == 2 else "Which three of ")
        assert p.answer.endswith(" (3)") == (k == 3)
        assert verify_pairsum(f"<answer> {p.meta['solution']} </answer>", p.answer).score == 1.0
    assert verify_pairsum("<answer>6+5+1</answer>", "[6, 5, 9, 8, 1] -> 12 (3)").score == 1.0
    assert verify_pairsum("<answer>9+3</answer>", "[6, 5, 9, 8, 3] -> 12 (3)").score == 0.0  # a pair, not a triple
    assert verify_pairsum("<answer>6+5+1</answer>", "[6, 5, 1, 7] -> 12").score == 0.0  # a triple, not a pair
    with pytest.raises(ValueError):
        get_verifier("pairsum")("<answer>1+2</answer>", "[1, 2] 3")
