"""Incremental detokenization and text-level stop strings."""

from __future__ import annotations

import pytest

from r1lab.models import io
from r1lab.rollout.text import Detokenizer, StopText


@pytest.fixture(scope="module")
def tok():
    return io.load_tokenizer("tiny")


def test_pieces_join_to_the_whole_text_and_never_split_a_character(tok):
    text = "héllo 日本 </think> 12+3 ✓"
    ids = tok(text, add_special_tokens=False).input_ids + [tok.eos_token_id]
    d = Detokenizer(tok)
    pieces = [d.push(i) for i in ids]
    assert "".join(pieces) == text
    assert all("\ufffd" not in p for p in pieces)
    assert len([p for p in pieces if p]) < len(ids)  # multi-token characters came out whole


@pytest.mark.parametrize("stops,pieces,expected", [
    (("END",), ["abcE", "N", "Dxyz"], ("abc", True)),
    (("END",), ["abcE", "Nx"], ("abcENx", False)),
    (("b", "abc"), ["xab", "c"], ("xa", True)),
    (("\n\n",), ["a\n", "\nb"], ("a", True)),
])
def test_stop_text_holds_back_possible_starts_and_cuts_at_the_first_stop(stops, pieces, expected):
    s, out, stopped = StopText(stops), "", False
    for p in pieces:
        text, stopped = s.push(p)
        out += text
        if stopped:
            break
    if not stopped:
        out += s.flush()
    assert (out, stopped) == expected
