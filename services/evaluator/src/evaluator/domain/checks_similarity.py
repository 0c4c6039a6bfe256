"""Checks that score the output against a reference text: the assertion's ``value`` when it
gives one, else the case's ``expected`` output (``subject.Reference``).

- ``levenshtein``: edit distance (rapidfuzz), passes at most ``threshold``;
- ``similarity``: normalised Levenshtein similarity, 1 - distance / length of the longer text;
- ``bleu``: sentence BLEU (sacrebleu: exponential smoothing, effective order), score / 100;
- ``chrf``: sentence chrF (sacrebleu defaults: character 6-grams, beta 2), score / 100;
- ``rouge_1`` / ``rouge_2`` / ``rouge_l``: rouge-score's definitions without stemming, the
  F-measure unless ``measure`` says otherwise, computed here from the same tokens (rouge-score's
  LCS is a quadratic pure-Python table; tests check equality with rouge-score). Its tokenizer
  keeps only ``[a-z0-9]`` runs and would drop Chinese entirely; ours is the same for such text
  and also makes each CJK character a token.

Scorers are built once per plan (their construction is not free); scores are the metric's value.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterator
from itertools import repeat
from operator import add, mul
from typing import Any, Final, NamedTuple

from rapidfuzz.distance import LCSseq, Levenshtein
from sacrebleu.metrics.bleu import BLEU
from sacrebleu.metrics.chrf import CHRF

from evaluator.domain.subject import Check, Outcome, Reference, Subject, on_output
from promptworks_contracts.values import (
    BleuAssertion,
    ChrfAssertion,
    LevenshteinAssertion,
    RougeAssertion,
    SimilarityAssertion,
    canonical_type,
)


def levenshtein(assertion: LevenshteinAssertion) -> Check:
    reference, threshold = Reference(assertion.value), assertion.threshold

    def check(subject: Subject, output: str) -> Outcome:
        distance = Levenshtein.distance(output, reference.value(subject))
        if distance <= threshold:
            return Outcome(True, score=float(distance))
        return Outcome(False, f"edit distance {distance} > {threshold}", float(distance))

    return on_output(check)


def similarity(assertion: SimilarityAssertion) -> Check:
    reference, threshold = Reference(assertion.value), assertion.threshold
    sensitive = assertion.case_sensitive

    def check(subject: Subject, output: str) -> Outcome:
        target = reference.value(subject)
        if not sensitive:
            output, target = output.casefold(), target.casefold()
        return _at_least("similarity", Levenshtein.normalized_similarity(output, target), threshold)

    return on_output(check)


def _at_least(what: str, score: float, threshold: float) -> Outcome:
    if score >= threshold:
        return Outcome(True, score=score)
    return Outcome(False, f"{what} {score:.4f} < {threshold:g}", score)


class SentenceScorer:
    """sacrebleu's ``sentence_score`` with each reference's statistics kept: a case's expected
    output comes back once per repetition, and extracting its n-grams is half the work. Uses
    the steps ``Metric.sentence_score`` takes (tests check equality with it)."""

    def __init__(self, metric: BLEU | CHRF) -> None:
        self._metric = metric
        self._references: dict[str, Any] = {}

    def score(self, hypothesis: str, reference: str) -> float:
        metric = self._metric
        info = self._references.get(reference)
        if info is None:
            if len(self._references) >= _REFERENCES_KEPT:
                self._references.clear()
            info = metric._extract_reference_info([metric._preprocess_segment(reference)])
            self._references[reference] = info
        stats = metric._compute_segment_statistics(metric._preprocess_segment(hypothesis), info)
        return float(metric._aggregate_and_compute([stats]).score) / 100.0


_REFERENCES_KEPT: Final = 4096


# sacrebleu's 13a tokenizer (``Tokenizer13a`` then ``TokenizerRegexp``), its rules applied
# where they can change something, the result equal (tests compare the two on random and
# punctuation-heavy text):
# - "surround every character of [{-~[-` -&(-+:-@/] with spaces": by splitting on that class
#   without the space and joining with spaces (in C), not by a regex whose template is
#   expanded in Python for every match (every space matched: it was most of BLEU's time).
#   Only the number of spaces differs, and the last step collapses them: the rules in between
#   look at a separator's neighbour, whitespace either way.
# - the period/comma and dash rules look at two adjacent characters and never match across
#   whitespace with anything but a whitespace neighbour, so they are applied to each token
#   that contains one of ".,-" on its own, padded with spaces (most tokens have none).
_13A_SEPARATORS: Final = re.compile(r"([\{-\~\[-\`!-\&\(-\+\:-\@\/])")
_13A_AFTER_NON_DIGIT: Final = re.compile(r"([^0-9])([\.,])")
_13A_BEFORE_NON_DIGIT: Final = re.compile(r"([\.,])([^0-9])")
_13A_DASH: Final = re.compile(r"([0-9])(-)")


def tokenize_13a(line: str) -> str:
    """What sacrebleu's ``Tokenizer13a()(line)`` returns."""
    return " ".join(tokens_13a(line))


def tokens_13a(line: str) -> list[str]:
    """The tokens of sacrebleu's ``Tokenizer13a()(line)`` (its output split on spaces)."""
    line = line.replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
    if "&" in line:
        line = line.replace("&quot;", '"').replace("&amp;", "&")
        line = line.replace("&lt;", "<").replace("&gt;", ">")
    pieces = _13A_SEPARATORS.split(line)
    if len(pieces) > 1:
        line = " ".join(pieces)
    tokens = line.split()
    if "." not in line and "," not in line and "-" not in line:
        return tokens
    found: list[str] = []
    for token in tokens:
        if "." in token or "," in token or "-" in token:
            head = token[:-1]
            if token[-1] in ".," and "." not in head and "," not in head and "-" not in head:
                # A word or number that ends a sentence or clause (most such tokens): the
                # rules split off the last character, whatever precedes it.
                if head:
                    found.append(head)
                found.append(token[-1])
            else:
                found.extend(_13a_token_rules(token))
        else:
            found.append(token)
    return found


def _13a_token_rules(token: str) -> list[str]:
    padded = f" {token} "
    if "." in token or "," in token:
        padded = _13A_AFTER_NON_DIGIT.sub(r"\1 \2 ", padded)
        padded = _13A_BEFORE_NON_DIGIT.sub(r" \1 \2", padded)
    if "-" in token:
        padded = _13A_DASH.sub(r"\1 \2 ", padded)
    return padded.split()


class _Order(NamedTuple):
    """A reference's n-grams of one order, as ``BleuScorer.statistics`` looks them up: each
    n-gram is the number its tokens' numbers spell in base ``_Reference.base`` (distinct
    n-grams of one order, distinct numbers). Ints, not tuples: cheap to hash and compare, and
    not tracked by the garbage collector (a tuple per n-gram made the collector run ~13 times
    as often)."""

    once: frozenset[int]
    """The n-grams the reference has once: each of them the hypothesis has is one match,
    however often it has it (counted by one C-level ``intersection``)."""
    repeated: list[int]
    """The n-grams the reference has more than once (few: mostly words such as "the")..."""
    counts: list[int]
    """... and how often: each matches as often as the smaller of the two counts."""


class _Reference(NamedTuple):
    vocabulary: dict[str, int]
    """Each token's number, its index by first occurrence."""
    base: int
    """One more than the largest token number: the hypothesis' other tokens are ``base - 1``,
    so no n-gram with one of them is among the reference's."""
    orders: list[_Order]
    """Per order, 1 to the metric's."""
    length: int


_smaller: Callable[[int, int], int] = min


def _grams(numbers: list[int], base: int, order: int) -> Iterator[list[int]]:
    """The n-grams of ``numbers`` of order 1 to ``order``, each order's in sequence (as
    sacrebleu's ``extract_all_word_ngrams`` takes them): the n-gram at i is the (n-1)-gram at i
    then the token at i + n - 1, made by C-level ``map``s."""
    grams = numbers
    yield grams
    for n in range(2, order + 1):
        grams = list(map(add, map(mul, grams[:-1], repeat(base)), numbers[n - 1 :]))
        yield grams


def _order(grams: list[int]) -> _Order:
    counted = Counter(grams)
    if not counted or max(counted.values()) == 1:  # most orders above 1
        return _Order(frozenset(counted), [], [])
    repeated = [(gram, count) for gram, count in counted.items() if count > 1]
    return _Order(
        frozenset(gram for gram, count in counted.items() if count == 1),
        [gram for gram, _ in repeated],
        [count for _, count in repeated],
    )


class BleuScorer:
    """sacrebleu's sentence BLEU against one reference, with the reference's n-grams counted
    once per reference text (a case's expected output comes back once per repetition and per
    re-evaluation) and the hypothesis' clipped matches counted with C-level ``map``s, set
    intersections and ``list.count`` over numbered n-grams; the tokenizer and the score from the
    statistics (smoothing, brevity penalty, effective order) are sacrebleu's.
    Tests check equality with ``BLEU.sentence_score``."""

    def __init__(self, metric: BLEU) -> None:
        self._metric = metric
        self._order = metric.max_ngram_order
        self._references: dict[str, _Reference] = {}
        fast = metric.tokenizer.signature() == "13a" and not metric.lowercase
        self._tokens: Callable[[str], list[str]] = (
            (lambda text: tokens_13a(text.rstrip()))
            if fast
            else (lambda text: metric._preprocess_segment(text).split())
        )

    def _reference(self, reference: str) -> _Reference:
        known = self._references.get(reference)
        if known is None:
            if len(self._references) >= _REFERENCES_KEPT:
                self._references.clear()
            # sacrebleu's ``_extract_reference_info`` for one reference: the tokens of the
            # same preprocessing, every n-gram of order 1 to the metric's counted.
            tokens = self._tokens(reference)
            vocabulary = {token: number for number, token in enumerate(dict.fromkeys(tokens))}
            numbers = list(map(vocabulary.__getitem__, tokens))
            base = len(vocabulary) + 1
            orders = [_order(grams) for grams in _grams(numbers, base, self._order)]
            known = self._references[reference] = _Reference(vocabulary, base, orders, len(tokens))
        return known

    def statistics(self, hypothesis: str, reference: str) -> list[int]:
        """sacrebleu's sentence statistics: lengths, clipped matches and totals per order."""
        ref = self._reference(reference)
        tokens = self._tokens(hypothesis)
        length = len(tokens)
        numbers = list(map(ref.vocabulary.get, tokens, repeat(ref.base - 1)))
        correct: list[int] = []
        total: list[int] = []
        every = _grams(numbers, ref.base, self._order)
        for n, ((once, repeated, counts), grams) in enumerate(
            zip(ref.orders, every, strict=True), start=1
        ):
            total.append(max(length - n + 1, 0))
            matched = len(once.intersection(grams))
            if repeated:
                # Clipped matches (in C): one for each shared n-gram the reference has once,
                # the smaller of the two counts for those it repeats.
                matched += sum(map(_smaller, map(grams.count, repeated), counts))
            correct.append(matched)
        return [length, ref.length, *correct, *total]

    def score(self, hypothesis: str, reference: str) -> float:
        stats = self.statistics(hypothesis, reference)
        metric = self._metric
        if metric.smooth_method == "exp" and metric.effective_order:
            order = self._order
            return _sentence_bleu(stats[2 : 2 + order], stats[2 + order :], stats[0], stats[1])
        return float(metric._compute_score_from_stats(stats).score) / 100.0


def _sentence_bleu(correct: list[int], total: list[int], sys_len: int, ref_len: int) -> float:
    """sacrebleu's ``BLEU.compute_bleu`` with ``smooth_method="exp"`` and ``effective_order``
    (the steps and float operations in its order), score / 100, without building its
    ``BLEUScore`` (formatting included, a fifth of a sentence's BLEU)."""
    bp = 1.0
    if sys_len < ref_len:
        bp = math.exp(1 - ref_len / sys_len) if sys_len > 0 else 0.0
    if not any(correct):
        return 0.0
    precisions = [0.0] * len(correct)
    smooth_mteval = 1.0
    eff_order = len(correct)
    for n in range(1, len(precisions) + 1):
        if total[n - 1] == 0:
            break
        eff_order = n
        if correct[n - 1] == 0:
            smooth_mteval *= 2
            precisions[n - 1] = 100.0 / (smooth_mteval * total[n - 1])
        else:
            precisions[n - 1] = 100.0 * correct[n - 1] / total[n - 1]
    logs = [math.log(p) if p > 0 else -9999999999 for p in precisions[:eff_order]]
    return bp * math.exp(sum(logs) / eff_order) / 100.0


def bleu(assertion: BleuAssertion) -> Check:
    reference, threshold = Reference(assertion.value), assertion.threshold
    scorer = BleuScorer(BLEU(effective_order=True, tokenize=assertion.tokenize))

    def check(subject: Subject, output: str) -> Outcome:
        return _at_least("bleu", scorer.score(output, reference.value(subject)), threshold)

    return on_output(check)


def chrf(assertion: ChrfAssertion) -> Check:
    reference, threshold = Reference(assertion.value), assertion.threshold
    scorer = SentenceScorer(CHRF())

    def check(subject: Subject, output: str) -> Outcome:
        return _at_least("chrf", scorer.score(output, reference.value(subject)), threshold)

    return on_output(check)


# rouge-score's own rule ([a-z0-9]+ after lowercasing), plus one token per CJK character. No
# nested quantifier, so Python's `re` (much faster per match than RE2's wrapper) is safe here.
_TOKEN: Final = re.compile(
    "[a-z0-9]+|[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]"
)


# Every ASCII byte that is not [a-z0-9] made a space: in ASCII text the tokens are the runs
# between spaces (one C pass, where ``_TOKEN.findall`` tried its alternatives at every
# position: most of ROUGE's time).
_ASCII_SPACED: Final = bytes(
    code if chr(code) in "abcdefghijklmnopqrstuvwxyz0123456789" else 32 for code in range(256)
)


class RougeTokenizer:
    """rouge-score's tokenizer interface (``tokenize``)."""

    def tokenize(self, text: str) -> list[str]:
        lowered = text.lower()
        if lowered.isascii():
            return lowered.encode("ascii").translate(_ASCII_SPACED).decode("ascii").split()
        return _TOKEN.findall(lowered)


def _ngrams(tokens: list[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def _prf(overlap: int, predicted: int, target: int) -> dict[str, float]:
    """rouge-score's precision, recall and F-measure of an overlap."""
    precision = overlap / max(predicted, 1)
    recall = overlap / max(target, 1)
    total = precision + recall
    return {
        "precision": precision,
        "recall": recall,
        "fmeasure": 2 * precision * recall / total if total > 0 else 0.0,
    }


def rouge_scores(kind: str, target: list[str], prediction: list[str]) -> dict[str, float]:
    """What ``rouge_score.rouge_scorer.RougeScorer([kind]).score`` computes from the same tokens
    (tests compare the two), with the longest common subsequence from rapidfuzz (C++, bit
    parallel) instead of rouge-score's quadratic pure-Python table."""
    if kind == "rougeL":
        if not target or not prediction:
            return _prf(0, 0, 0)
        return _prf(LCSseq.similarity(target, prediction), len(prediction), len(target))
    n = 1 if kind == "rouge1" else 2
    want, got = _ngrams(target, n), _ngrams(prediction, n)
    overlap = sum(min(count, got[gram]) for gram, count in want.items())
    return _prf(overlap, sum(got.values()), sum(want.values()))


_ROUGE_TYPES: Final = {"rouge_1": "rouge1", "rouge_2": "rouge2", "rouge_l": "rougeL"}
_MEASURES: Final = {"f": "fmeasure", "precision": "precision", "recall": "recall"}


def rouge(assertion: RougeAssertion) -> Check:
    reference, threshold = Reference(assertion.value), assertion.threshold
    kind = _ROUGE_TYPES[canonical_type(assertion.type)]
    measure = _MEASURES[assertion.measure]
    label = kind.replace("rouge", "rouge-").lower()
    tokenizer = RougeTokenizer()
    # The same reference (a case's expected output) comes back once per repetition.
    reference_tokens: dict[str, list[str]] = {}

    def check(subject: Subject, output: str) -> Outcome:
        target_text = reference.value(subject)
        target = reference_tokens.get(target_text)
        if target is None:
            if len(reference_tokens) >= _REFERENCES_KEPT:
                reference_tokens.clear()
            target = reference_tokens[target_text] = tokenizer.tokenize(target_text)
        score = rouge_scores(kind, target, tokenizer.tokenize(output))[measure]
        return _at_least(label, score, threshold)

    return on_output(check)


__all__ = ["bleu", "chrf", "levenshtein", "rouge", "similarity"]
