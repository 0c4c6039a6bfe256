"""``BleuScorer`` against sacrebleu on a large randomised corpus, to the last float bit: its
statistics (the reference's n-grams counted once per reference, the hypothesis' clipped
matches counted over numbered n-grams) and its score must be sacrebleu's for every tokenizer
an assertion may name, with references that come back (the cache) and hypotheses made from
them (matches of every order, n-grams repeated on either side: the clipping)."""

from __future__ import annotations

import random

import pytest
from sacrebleu.metrics.bleu import BLEU

from evaluator.domain.checks_similarity import BleuScorer

# Words that exercise the tokenizers' rules: punctuation, numbers with ".,-", entities,
# accents, CJK, Thai, Arabic, emoji, a combining mark, and plain words that repeat.
_VOCABULARY = """
the a cat dog sat on mat and it the the
3.50 1,000 -3 10-20 e.g. U.S.A. end. end, x-y (a) [b] {c} 'q' "z" .,- . , - ! ? ; :
&amp; &lt;tag&gt; &quot;x&quot; <skipped> a&b 50% $3 @me #tag ~ ^ | \\ / ...
caf\u00e9 na\u00efve Stra\u00dfe \u00c9COLE e\u0301 \u0130stanbul \u2014 \u2013 \u2026 \u00ab \u00bb
\u5317\u4eac \u662f \u4e2d\u56fd\u7684\u9996\u90fd\u3002 \u6771\u4eac \u30bf\u30ef\u30fc
\ud55c\uad6d\uc5b4 \u0e20\u0e32\u0e29\u0e32\u0e44\u0e17\u0e22 \u0645\u0631\u062d\u0628\u0627
\U0001f600 \U0001f44d\U0001f3fd
"""
_WORDS = _VOCABULARY.split()
_SEPARATORS = [" ", " ", " ", "  ", "\t", "\n", "-\n", ""]


def _text(rng: random.Random, words: int) -> str:
    return "".join(rng.choice(_WORDS) + rng.choice(_SEPARATORS) for _ in range(words)).strip()


def _hypothesis(rng: random.Random, reference: str) -> str:
    """A short text, random text, the reference itself, or the reference with words dropped,
    repeated, swapped or replaced (so n-grams of every order match, some more often than the
    reference has them)."""
    kind = rng.randrange(6)
    if kind == 0:
        return rng.choice(["", " ", "\n", ".", "a", "the the", "北京", rng.choice(_WORDS)])
    if kind == 1:
        return _text(rng, rng.randint(0, 30))
    if kind == 2:
        return reference + rng.choice(["", " ", "\n", "  \t"])
    words = reference.split(" ")
    for _ in range(rng.randint(1, 8)):
        if not words:
            break
        i = rng.randrange(len(words))
        action = rng.randrange(4)
        if action == 0:
            del words[i]
        elif action == 1:
            words[i:i] = words[i : i + rng.randint(1, 4)] * rng.randint(1, 3)
        elif action == 2:
            j = rng.randrange(len(words))
            words[i], words[j] = words[j], words[i]
        else:
            words[i] = rng.choice(_WORDS)
    return " ".join(words)


def _corpus(seed: int, count: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    references = [
        *(_text(rng, rng.randint(0, 40)) for _ in range(150)),
        "",
        " ",
        "the the the the the the",
        "a a b a a b a a b",
        "北京是中国的首都。",
    ]
    pairs = []
    for _ in range(count):
        reference = rng.choice(references)
        pairs.append((_hypothesis(rng, reference), reference))
    return pairs


@pytest.mark.parametrize("tokenize", ["13a", "intl", "zh", "char", "none"])
def test_bleu_scorer_equals_sacrebleu_bit_for_bit_on_a_random_corpus(tokenize: str) -> None:
    theirs = BLEU(effective_order=True, tokenize=tokenize)
    ours = BleuScorer(BLEU(effective_order=True, tokenize=tokenize))
    corpus = _corpus(29, 3000 if tokenize == "13a" else 1000)
    matched_with_counts = 0
    for hypothesis, reference in corpus:
        expected_stats = theirs._compute_segment_statistics(
            theirs._preprocess_segment(hypothesis),
            theirs._extract_reference_info([theirs._preprocess_segment(reference)]),
        )
        assert ours.statistics(hypothesis, reference) == expected_stats, (hypothesis, reference)
        expected = theirs.sentence_score(hypothesis, [reference]).score / 100
        assert ours.score(hypothesis, reference) == expected, (hypothesis, reference)
        matched_with_counts += expected_stats[3] > 0 and expected > 0
    # The corpus is not degenerate: bigrams match in many pairs.
    assert matched_with_counts > len(corpus) // 4


def test_a_cleared_reference_cache_gives_the_same_scores() -> None:
    """More distinct references than the cache keeps: it is cleared and filled again."""
    theirs = BLEU(effective_order=True)
    ours = BleuScorer(BLEU(effective_order=True))
    rng = random.Random(31)
    references = [_text(rng, rng.randint(1, 12)) + f" r{i}" for i in range(5000)]
    for reference in [*references, *references[:300]]:  # the first 300 again, after a clear
        hypothesis = _hypothesis(rng, reference)
        expected = theirs.sentence_score(hypothesis, [reference]).score / 100
        assert ours.score(hypothesis, reference) == expected
