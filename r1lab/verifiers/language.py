"""Language-consistency reward (DeepSeek-R1, stage 2): the share of chain-of-thought words that
are written in the target language.

The paper counts "target language words" in the CoT; we approximate a language by its Unicode
script(s) so that any mixing across scripts (English in a Chinese CoT, Cyrillic in an English
one) is caught without a language-ID model. Mixing two languages of one script (English and
French) is not detected. Choices:

* the CoT is the text inside <think>...</think> when present, else the whole response;
* LaTeX math (`$...$`, `\\(...\\)`, `\\[...\\]`), `\\commands`, code spans and fences, digits
  and punctuation are removed first: formulas are language-neutral;
* a letter's script is the first word of its Unicode name (`unicodedata.name`: "LATIN",
  "CYRILLIC", "CJK" -> Han, "HIRAGANA", "HANGUL", ...); combining marks join the current word;
* a word is a run of letters of one script, except in scripts written without spaces (Han,
  Hiragana, Katakana, Thai, Lao, Khmer, Myanmar) where every character counts as a word;
* single Latin letters are ignored (variable names in any language's mathematics);
* a target is a script ("Latin", "Han", ...), a language name or code mapped to its scripts
  ("en", "zh", "ja" = Han + kana, "ko" = Hangul + Han, "ru", ...);
* no counted word at all gives 0.0: an empty CoT earns no consistency reward.

`cot_consistency(response, question)` is the one quantity the project calls language
consistency: the chain of thought with the reasoning tags' own names removed, compared with the
question's language (`detect_language`); None when the chain of thought has no counted word.
The per-step metric and the evaluation (`eval.behaviour.language_metrics`: the mean over
responses that have words, and the share below 1.0 as the mixing rate) and the RL reward
(`language_reward`: None counts 0.0) all read it.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from functools import lru_cache

_THINK = re.compile(r"<think>(.*?)(?:</think>|$)", re.DOTALL)
_TAGS = re.compile(r"</?(?:think|answer)>")
_MATH = re.compile(r"\$\$.*?\$\$|\$[^$]*\$|\\\(.*?\\\)|\\\[.*?\\\]|```.*?```|`[^`]*`|\\[a-zA-Z]+", re.DOTALL)
_UNSPACED = {"Han", "Hiragana", "Katakana", "Thai", "Lao", "Khmer", "Myanmar"}
_NAME_TO_SCRIPT = {"CJK": "Han", "KANGXI": "Han", "IDEOGRAPHIC": "Han", "FULLWIDTH": "Latin",
                   "HALFWIDTH": "Katakana"}
LANGUAGES: dict[str, frozenset[str]] = {
    "en": frozenset({"Latin"}), "fr": frozenset({"Latin"}), "de": frozenset({"Latin"}),
    "es": frozenset({"Latin"}), "zh": frozenset({"Han"}), "ja": frozenset({"Han", "Hiragana", "Katakana"}),
    "ko": frozenset({"Hangul", "Han"}), "ru": frozenset({"Cyrillic"}), "uk": frozenset({"Cyrillic"}),
    "el": frozenset({"Greek"}), "ar": frozenset({"Arabic"}), "he": frozenset({"Hebrew"}),
    "hi": frozenset({"Devanagari"}), "th": frozenset({"Thai"}),
    "english": frozenset({"Latin"}), "chinese": frozenset({"Han"}), "russian": frozenset({"Cyrillic"}),
    "japanese": frozenset({"Han", "Hiragana", "Katakana"}), "korean": frozenset({"Hangul", "Han"}),
}


@lru_cache(maxsize=65536)
def script_of(ch: str) -> str | None:
    """Unicode script of one letter ("Latin", "Han", ...); None for anything that is not a letter."""
    if not ch.isalpha():
        return None
    first = unicodedata.name(ch, "").split(" ")[0]
    if not first:
        return None
    if first in _NAME_TO_SCRIPT:
        return _NAME_TO_SCRIPT[first]
    return first.capitalize()


def chain_of_thought(text: str) -> str:
    found = _THINK.findall(text)
    return "\n".join(found) if found else text


def words(text: str) -> list[tuple[str, str]]:
    """(script, word) for each counted word of `text` (math, code, digits, punctuation removed)."""
    out: list[tuple[str, str]] = []
    cur, cur_script = "", None
    for ch in _MATH.sub(" ", text) + " ":
        s = script_of(ch)
        if s is None and cur and unicodedata.category(ch) in ("Mn", "Mc"):
            cur += ch  # combining marks (Devanagari vowel signs, accents) stay in the word
            continue
        if s is not None and s == cur_script and s not in _UNSPACED:
            cur += ch
            continue
        if cur and not (cur_script == "Latin" and len(cur) == 1):
            out.append((cur_script, cur))
        cur, cur_script = (ch, s) if s is not None else ("", None)
    return out


def target_scripts(target: str) -> frozenset[str]:
    key = target.strip()
    if key.lower() in LANGUAGES:
        return LANGUAGES[key.lower()]
    return frozenset(s.strip().capitalize() for s in key.split("+"))


def language_consistency(text: str, target: str) -> float:
    """Share in [0, 1] of the chain of thought's words written in the target's script(s)."""
    scripts = target_scripts(target)
    counted = words(chain_of_thought(text))
    if not counted:
        return 0.0
    return sum(s in scripts for s, _ in counted) / len(counted)


def detect_language(prompt: str) -> str:
    """The prompt's language as a target for `language_consistency`: "ja"/"ko" when kana/Hangul
    appear, else the script with the most words ("Latin", "Han", "Cyrillic", ...); "Latin" if none."""
    counts = Counter(s for s, _ in words(prompt))
    if not counts:
        return "Latin"
    kana = counts["Hiragana"] + counts["Katakana"]
    if kana > 0 and kana + counts["Han"] >= max(counts.values()):
        return "ja"
    if counts["Hangul"] > 0 and counts["Hangul"] + counts["Han"] >= max(counts.values()):
        return "ko"
    return counts.most_common(1)[0][0]


def cot_consistency(response: str, target: str) -> float | None:
    """Share of the chain of thought's words in `target`'s script(s) (the tags' names are not
    words); None when it has no counted word (an empty chain of thought is not mixing)."""
    counted = words(_TAGS.sub(" ", chain_of_thought(response)))
    if not counted:
        return None
    scripts = target_scripts(target)
    return sum(s in scripts for s, _ in counted) / len(counted)


def language_reward(response: str, target: str) -> float:
    """DeepSeek-R1's language-consistency reward: `cot_consistency`, 0.0 for a chain of thought
    with no word at all (no words of the target language)."""
    share = cot_consistency(response, target)
    return 0.0 if share is None else share
