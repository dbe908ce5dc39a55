"""The corpus's second language: off by default (the shipped base's corpus is English only); when on,
Cyrillic working, code-switching inside one worked solution, right sums, and the shipped tokenizer
writes it all back byte for byte."""

import itertools
import random
import re

from r1lab.models.corpus import CorpusMix, addition_steps, documents
from r1lab.models.io import load_tokenizer

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
