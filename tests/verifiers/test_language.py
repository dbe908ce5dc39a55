import pytest

from r1lab.verifiers.language import (
    chain_of_thought,
    detect_language,
    language_consistency,
    script_of,
    target_scripts,
    words,
)


@pytest.mark.parametrize("ch,script", [("a", "Latin"), ("é", "Latin"), ("ａ", "Latin"), ("中", "Han"),
                                        ("ア", "Katakana"), ("あ", "Hiragana"), ("한", "Hangul"),
                                        ("ж", "Cyrillic"), ("α", "Greek"), ("ا", "Arabic"), ("7", None),
                                        ("+", None), (" ", None)])
def test_script_of(ch, script):
    assert script_of(ch) == script


def test_words_skip_math_code_and_variables():
    got = words("Let x be $y^2 + \\alpha$ so \\frac we `code` 计算 привет 42")
    assert got == [("Latin", "Let"), ("Latin", "be"), ("Latin", "so"), ("Latin", "we"),
                   ("Han", "计"), ("Han", "算"), ("Cyrillic", "привет")]


def test_consistency_is_the_share_of_target_words():
    mixed = "<think>First we add them. 然后检查</think><answer>5</answer>"
    # Latin words: First, we, add, them (4); Han characters: 然, 后, 检, 查 (4)
    assert language_consistency(mixed, "en") == pytest.approx(4 / 8)
    assert language_consistency(mixed, "zh") == pytest.approx(4 / 8)
    assert language_consistency("<think>We add 3 and 4.</think> 答案", "en") == 1.0  # only the CoT counts
    assert language_consistency("<think>Мы складываем числа</think>", "ru") == 1.0
    assert language_consistency("<think>Мы add числа</think>", "Cyrillic") == pytest.approx(2 / 3)
    assert language_consistency("<think>これは問題です</think>", "ja") == 1.0
    assert language_consistency("<think>$1+1=2$</think>", "en") == 0.0  # no words at all
    assert language_consistency("no tags: the whole text is the CoT", "Latin") == 1.0


def test_targets_and_detection():
    assert target_scripts("zh") == {"Han"} and target_scripts("Latin") == {"Latin"}
    assert target_scripts("Han+Hiragana") == {"Han", "Hiragana"}
    assert detect_language("What is $2+2$?") == "Latin"
    assert detect_language("计算 $x$ 的值, where x is given") == "Han"
    assert detect_language("Сколько будет 2+2?") == "Cyrillic"
    assert detect_language("これは何ですか、日本") == "ja"
    assert detect_language("이것은 무엇입니까") == "ko"
    assert detect_language("1 + 2 = ?") == "Latin"
    assert chain_of_thought("<think>a</think> b <think>c") == "a\nc"


def test_the_reward_and_the_metric_read_one_function():
    from r1lab.eval.behaviour import language_metrics
    from r1lab.verifiers.language import cot_consistency, language_reward
    texts = ["<think>5+6=11, итог 1, carry 1, left 3+4.</think> <answer> 5 </answer>",
             "<think>so far 5</think> <answer> 5 </answer>", "<answer> 5 </answer>"]
    q = "What is 35 + 46?"
    shares = [cot_consistency(t, detect_language(q)) for t in texts]
    assert shares == [pytest.approx(2 / 3), 1.0, None]  # итог, carry, left; digits and tag names are not words
    assert [language_reward(t, "Latin") for t in texts] == [pytest.approx(2 / 3), 1.0, 0.0]
    m = language_metrics(texts, [q] * 3)  # what metrics.jsonl logs every step
    assert m["language_consistency"] == pytest.approx((2 / 3 + 1) / 2) and m["language_mixing_rate"] == 0.5
