"""Checks that score the output against a reference text: the assertion's ``value`` when it
gives one, else the case's ``expected`` output (``subject.Reference``).

- ``levenshtein``: edit distance (rapidfuzz), passes at most ``threshold``;
- ``similarity``: normalised Levenshtein similarity, 1 - distance / length of the longer text;
- ``bleu``: sentence BLEU (sacrebleu: exponential smoothing, effective order), score / 100;
- ``chrf``: sentence chrF (sacrebleu defaults: character 6-grams, beta 2), score / 100;
- ``rouge_1`` / ``rouge_2`` / ``rouge_l``: rouge-score without stemming, the F-measure unless
  ``measure`` says otherwise. Its tokenizer keeps only ``[a-z0-9]`` runs and would drop Chinese
  entirely; ours is the same for such text and also makes each CJK character a token.

Scorers are built once per plan (their construction is not free); scores are the metric's value.
"""

from __future__ import annotations

from typing import Final

import re2
from rapidfuzz.distance import Levenshtein
from rouge_score.rouge_scorer import RougeScorer
from sacrebleu.metrics.bleu import BLEU
from sacrebleu.metrics.chrf import CHRF

from evaluator.domain.subject import Check, Outcome, Reference, Subject, on_output, short
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


def bleu(assertion: BleuAssertion) -> Check:
    reference, threshold = Reference(assertion.value), assertion.threshold
    scorer = BLEU(effective_order=True, tokenize=assertion.tokenize)

    def check(subject: Subject, output: str) -> Outcome:
        score = scorer.sentence_score(output, [reference.value(subject)]).score / 100.0
        return _at_least("bleu", score, threshold)

    return on_output(check)


def chrf(assertion: ChrfAssertion) -> Check:
    reference, threshold = Reference(assertion.value), assertion.threshold
    scorer = CHRF()

    def check(subject: Subject, output: str) -> Outcome:
        score = scorer.sentence_score(output, [reference.value(subject)]).score / 100.0
        return _at_least("chrf", score, threshold)

    return on_output(check)


# rouge-score's own rule ([a-z0-9]+ after lowercasing), plus one token per CJK character.
_TOKEN: Final = re2.compile(
    r"[a-z0-9]+|[\x{3040}-\x{30ff}\x{3400}-\x{4dbf}\x{4e00}-\x{9fff}\x{f900}-\x{faff}\x{ac00}-\x{d7af}]"
)


class RougeTokenizer:
    """rouge-score's tokenizer interface (``tokenize``)."""

    def tokenize(self, text: str) -> list[str]:
        return [str(token) for token in _TOKEN.findall(text.lower())]


_ROUGE_TYPES: Final = {"rouge_1": "rouge1", "rouge_2": "rouge2", "rouge_l": "rougeL"}
_MEASURES: Final = {"f": "fmeasure", "precision": "precision", "recall": "recall"}


def rouge(assertion: RougeAssertion) -> Check:
    reference, threshold = Reference(assertion.value), assertion.threshold
    kind = _ROUGE_TYPES[canonical_type(assertion.type)]
    measure = _MEASURES[assertion.measure]
    scorer = RougeScorer([kind], use_stemmer=False, tokenizer=RougeTokenizer())
    label = kind.replace("rouge", "rouge-").lower()

    def check(subject: Subject, output: str) -> Outcome:
        # rouge-score takes (target, prediction).
        score = float(getattr(scorer.score(reference.value(subject), output)[kind], measure))
        return _at_least(label, score, threshold)

    return on_output(check)


__all__ = ["bleu", "chrf", "levenshtein", "rouge", "short", "similarity"]
