"""The assertion types beyond the original seven: text variants, JSON fields, similarity
scores against the case's expected output, latency and cost thresholds. Reference scores are
computed by hand in the comments (BLEU, ROUGE, Levenshtein)."""

from __future__ import annotations

import random
import re
import uuid
from decimal import Decimal
from typing import Any

import pytest
from pydantic import TypeAdapter
from rouge_score.rouge_scorer import RougeScorer
from sacrebleu.metrics.bleu import BLEU
from sacrebleu.metrics.chrf import CHRF
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

from evaluator.domain.checks_similarity import (
    BleuScorer,
    RougeTokenizer,
    SentenceScorer,
    rouge_scores,
    tokenize_13a,
)
from evaluator.domain.plan import Evaluation, RunPlan
from promptworks_contracts.events import ResultRecorded
from promptworks_contracts.values import Assertion, MetricValue, Money

ASSERTIONS = TypeAdapter(list[Assertion])


def plan(
    *assertions: dict[str, Any],
    cases: list[dict[str, Any]] | None = None,
    expected: list[Any] | None = None,
) -> RunPlan:
    return RunPlan.compile(
        ASSERTIONS.validate_python(list(assertions)), cases or [], expected or []
    )


def result(
    output: str | None = "",
    *,
    case: int = 0,
    latency: float = 100.0,
    error: str | None = None,
    cost: Money | None = None,
) -> ResultRecorded:
    return ResultRecorded(
        run_id=uuid.uuid4(),
        result_id=uuid.uuid4(),
        case_index=case,
        repetition=1,
        output=output,
        latency_ms=latency,
        error=error,
        cost=cost,
    )


def only(run_plan: RunPlan, recorded: ResultRecorded) -> MetricValue:
    """The metric of the plan's single assertion."""
    return run_plan.evaluate(recorded)[-1]


def test_kebab_case_spellings_are_the_same_types_and_names_stay_snake_case() -> None:
    either = plan(
        {"type": "contains-any", "values": ["a"]}, {"type": "contains_any", "values": ["b"]}
    )
    assert [check.name for check in either.checks] == ["contains_any_0", "contains_any_1"]
    assert [check.type for check in either.checks] == ["contains_any", "contains_any"]


def test_icontains_contains_any_and_contains_all() -> None:
    assert only(plan({"type": "icontains", "value": "PARIS"}), result("in paris")).passed is True
    anyone = plan({"type": "contains-any", "values": ["Rome", "Paris"]})
    assert only(anyone, result("Paris!")).passed is True
    none = only(anyone, result("Berlin"))
    assert none.passed is False and none.detail == "output contains none of ['Rome', 'Paris']"
    every = plan({"type": "contains-all", "values": ["a", "b", "c", "d"], "case_sensitive": False})
    assert only(every, result("A b C D")).passed is True
    lacking = plan({"type": "contains-all", "values": ["a", "b", "c", "d"]}).judge(result("a c"))
    assert lacking.reasons[0].detail == "output lacks ['b', 'd']"
    assert lacking.reasons[0].value == 0.5  # half of the list is there


def test_starts_with_and_ends_with_ignore_surrounding_whitespace_by_default() -> None:
    starts = plan({"type": "starts-with", "value": "Answer:"})
    assert only(starts, result("  Answer: 42")).passed is True
    assert only(starts, result("The Answer: 42")).detail == "output does not start with 'Answer:'"
    ends = plan({"type": "ends_with", "value": "END", "case_sensitive": False})
    assert only(ends, result("... end\n")).passed is True
    exact = plan({"type": "ends_with", "value": "END", "strip": False})
    assert only(exact, result("END\n")).passed is False


@pytest.mark.parametrize(
    ("path", "op", "value", "passed"),
    [
        ("/answer", "eq", 42, True),
        ("/answer", "eq", 42.0, True),  # JSON numbers: 42 is 42.0
        ("/ok", "eq", 1, False),  # but true is not 1
        ("/ok", "eq", True, True),
        ("/items/1/name", "eq", "b", True),
        ("/items/1/name", "ne", "a", True),
        ("/answer", "gt", 41.5, True),
        ("/answer", "ge", 42, True),
        ("/answer", "lt", 42, False),
        ("/answer", "le", 42, True),
        ("/a~1b", "eq", "slash", True),  # RFC 6901 escape of "/"
        ("", "ne", None, True),  # the whole document
    ],
)
def test_json_field_compares_the_value_at_a_pointer(
    path: str, op: str, value: Any, passed: bool
) -> None:
    document = '{"answer": 42, "ok": true, "items": [{"name": "a"}, {"name": "b"}], "a/b": "slash"}'
    check = plan({"type": "json-field", "path": path, "op": op, "value": value})
    assert only(check, result(document)).passed is passed


def test_json_field_says_what_is_missing_or_not_a_number() -> None:
    missing = only(plan({"type": "json_field", "path": "/x/0", "value": 1}), result('{"x": []}'))
    assert missing.detail == "/x/0: no such field"
    text = only(
        plan({"type": "json_field", "path": "/x", "op": "gt", "value": 1}), result('{"x": "9"}')
    )
    assert text.detail == "/x: string, not a number"
    judged = plan({"type": "json_field", "path": "/n", "op": "ge", "value": 10}).judge(
        result('{"n": 7}')
    )
    assert judged.reasons[0].detail == "/n: 7 >= 10 is false" and judged.reasons[0].value == 7.0
    not_json = only(plan({"type": "json_field", "path": "/n", "value": 1}), result("seven"))
    assert not_json.detail is not None and not_json.detail.startswith("not JSON")


def test_levenshtein_distance_and_normalised_similarity() -> None:
    # kitten -> sitting: k->s, e->i, +g = 3 edits; similarity 1 - 3/7.
    distance = plan({"type": "levenshtein", "value": "sitting", "threshold": 3})
    metric = only(distance, result("kitten"))
    assert (metric.value, metric.passed) == (3.0, True)
    strict = only(
        plan({"type": "levenshtein", "value": "sitting", "threshold": 2}), result("kitten")
    )
    assert (strict.passed, strict.detail) == (False, "edit distance 3 > 2")
    similar = only(
        plan({"type": "similarity", "value": "sitting", "threshold": 0.5}), result("kitten")
    )
    assert similar.value == pytest.approx(1 - 3 / 7) and similar.passed is True


# Hypothesis and reference of the hand-computed scores below (13a and rouge-score tokens agree).
HYPOTHESIS = "the cat is on the mat"
REFERENCE = "the cat sat on the mat"


def test_bleu_against_the_cases_expected_output_equals_the_hand_computed_value() -> None:
    # Matching n-grams: 1-grams 5/6, 2-grams 3/5, 3-grams 1/4, 4-grams 0/3 -> smoothed
    # (sacrebleu "exp") to 1/(2*3); equal lengths, no brevity penalty:
    # BLEU = (5/6 * 3/5 * 1/4 * 1/6) ** (1/4) = 0.0208333 ** 0.25 = 0.3799178.
    bleu = plan({"type": "bleu", "threshold": 0.3}, expected=[REFERENCE])
    metric = only(bleu, result(HYPOTHESIS))
    assert metric.value == pytest.approx((5 / 6 * 3 / 5 * 1 / 4 * 1 / 6) ** 0.25, abs=1e-9)
    assert metric.passed is True
    judged = plan({"type": "bleu", "threshold": 0.5}, expected=[REFERENCE]).judge(
        result(HYPOTHESIS)
    )
    reason = judged.reasons[0]
    assert (reason.name, reason.threshold, reason.detail) == ("bleu_0", 0.5, "bleu 0.3799 < 0.5")
    assert reason.value == pytest.approx(0.3799178, abs=1e-7)


@pytest.mark.parametrize(
    ("kind", "score"),
    [
        # Unigrams in common: the x2, cat, on, mat = 5 of 6 each side: F = 5/6.
        ("rouge-1", 5 / 6),
        # Bigrams in common: "the cat", "on the", "the mat" = 3 of 5 each side.
        ("rouge-2", 3 / 5),
        # Longest common subsequence "the cat on the mat" = 5 of 6 each side.
        ("rouge-l", 5 / 6),
    ],
)
def test_rouge_equals_the_hand_computed_value(kind: str, score: float) -> None:
    rouge = plan({"type": kind, "value": REFERENCE})
    assert only(rouge, result(HYPOTHESIS)).value == pytest.approx(score)


def test_rouge_recall_and_precision_can_be_asked_for() -> None:
    # Output "the cat" against the reference: 2 of 6 reference unigrams, 2 of 2 output ones.
    recall = plan({"type": "rouge_1", "value": REFERENCE, "measure": "recall", "threshold": 0})
    assert only(recall, result("the cat")).value == pytest.approx(2 / 6)
    precision = plan({"type": "rouge_1", "value": REFERENCE, "measure": "precision"})
    assert only(precision, result("the cat")).value == pytest.approx(1.0)


def test_rouge_tokenizer_equals_its_rule_on_random_text() -> None:
    # The ASCII path (runs between translated spaces) against the rule itself: rouge-score's
    # [a-z0-9]+ after lowering, plus one token per CJK character.
    rule = re.compile(
        "[a-z0-9]+|[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]"
    )
    rng = random.Random(23)
    alphabet = [chr(code) for code in range(128)] + ["é", "中", "İ", "ß", "\uff21", "한"]
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        assert RougeTokenizer().tokenize(text) == rule.findall(text.lower()), repr(text)


def test_rouge_tokenizes_chinese_by_character_and_latin_like_rouge_score() -> None:
    assert RougeTokenizer().tokenize("Don't PANIC, 42!") == ["don", "t", "panic", "42"]
    assert RougeTokenizer().tokenize("巴黎是法国的首都") == list("巴黎是法国的首都")
    # 北, 京, 大 in common: 3 of the 4 characters each side, F = 0.75.
    rouge = plan({"type": "rouge-1", "value": "北京很大"})
    assert only(rouge, result("北京不大")).value == pytest.approx(3 / 4)


def test_chrf_is_one_for_identical_text_and_lower_for_a_paraphrase() -> None:
    chrf = plan({"type": "chrf", "threshold": 0.99}, expected=[REFERENCE])
    same = only(chrf, result(REFERENCE))
    assert same.value == pytest.approx(1.0) and same.passed is True
    other = only(chrf, result(HYPOTHESIS))
    assert other.value is not None and 0.3 < other.value < 0.99 and other.passed is False


def test_a_similarity_uses_the_assertions_value_over_the_expected_output() -> None:
    check = plan(
        {"type": "similarity", "value": "{{ answer }}", "threshold": 1.0},
        cases=[{"answer": "yes"}],
        expected=["no"],
    )
    assert only(check, result("yes")).passed is True


def test_expected_json_is_compared_as_compact_json_text() -> None:
    check = plan({"type": "levenshtein", "threshold": 0}, expected=[{"a": [1, 2]}])
    assert only(check, result('{"a":[1,2]}')).passed is True


def test_a_similarity_without_a_reference_fails_saying_so() -> None:
    check = plan({"type": "bleu"}, expected=[None, "x"])
    metric = only(check, result("anything", case=0))
    assert metric.passed is False
    assert metric.detail == "case 0 has no expected output and the assertion no `value`"


def test_latency_and_cost_thresholds() -> None:
    latency = plan({"type": "latency", "threshold": 200}).judge(result("x", latency=250.5))
    assert latency.reasons[0].detail == "latency 250 ms > 200 ms"
    assert (latency.reasons[0].value, latency.reasons[0].threshold) == (250.5, 200.0)
    cost = plan({"type": "cost", "threshold": "0.01"})
    cheap = result("x", cost=Money(amount=Decimal("0.01")))
    assert only(cost, cheap).passed is True
    dear = cost.judge(result("x", cost=Money(amount=Decimal("0.0125"))))
    assert dear.reasons[0].detail == "cost 0.0125 USD > 0.01 USD"
    assert only(cost, result("x")).detail == "cost unknown (the model has no price)"
    euros = only(cost, result("x", cost=Money(amount=Decimal("0.001"), currency="EUR")))
    assert euros.detail == "cost in EUR, threshold in USD"
    # A failed call still took its time and may have cost money: both are judged.
    failed = result(None, error="boom", cost=Money(amount=Decimal("0.001")))
    assert only(cost, failed).passed is True


def test_a_result_passes_when_every_weighted_assertion_passes() -> None:
    run_plan = plan(
        {"type": "contains", "value": "a", "weight": 3},
        {"type": "contains", "value": "b", "weight": 1},
        {"type": "contains", "value": "c", "weight": 0},  # reported, never decides
    )
    both: Evaluation = run_plan.judge(result("ab"))
    assert (both.passed, both.score, both.reasons) == (True, 1.0, [])
    assert both.metrics[-1].passed is False  # the weight-0 check is still reported
    only_a = run_plan.judge(result("a"))
    assert (only_a.passed, only_a.score) == (False, 0.75)
    assert [(r.name, r.weight) for r in only_a.reasons] == [("contains_1", 1.0)]


def test_a_failed_call_fails_with_its_error_as_the_first_reason() -> None:
    judged = plan().judge(result(None, error="rate limited"))
    assert (judged.passed, judged.score) == (False, None)
    assert [(r.name, r.detail) for r in judged.reasons] == [("error", "rate limited")]
    assert plan().judge(result("fine")).passed is True


def random_texts(seed: int, count: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    words = [
        "the",
        "a",
        "cat",
        "dog",
        "sat",
        "ran",
        "on",
        "under",
        "mat",
        "rug",
        "and",
        "or",
        "big",
        "small",
        "red",
        "42",
        "7",
        "it's",
    ]
    pairs = []
    for _ in range(count):
        reference = " ".join(rng.choice(words) for _ in range(rng.randint(0, 25)))
        output = " ".join(rng.choice(words) for _ in range(rng.randint(0, 25)))
        pairs.append((reference, output.capitalize() + rng.choice(["", ".", "!", " ?"])))
    return pairs


@pytest.mark.parametrize("kind", ["rouge1", "rouge2", "rougeL"])
def test_our_rouge_equals_rouge_scores_own_on_random_texts(kind: str) -> None:
    reference_scorer = RougeScorer([kind], use_stemmer=False)
    tokenizer = RougeTokenizer()
    for target, prediction in random_texts(7, 300):
        theirs = reference_scorer.score(target, prediction)[kind]
        ours = rouge_scores(kind, tokenizer.tokenize(target), tokenizer.tokenize(prediction))
        assert ours == {
            "precision": pytest.approx(theirs.precision),
            "recall": pytest.approx(theirs.recall),
            "fmeasure": pytest.approx(theirs.fmeasure),
        }


@pytest.mark.parametrize("tokenize", ["13a", "zh", "char"])
def test_our_sentence_scores_equal_sacrebleus_sentence_score(tokenize: str) -> None:
    ours_bleu = BleuScorer(BLEU(effective_order=True, tokenize=tokenize))
    for reference, output in [*random_texts(13, 300), ("北京是中国的首都。", "北京是首都")]:
        expected = BLEU(effective_order=True, tokenize=tokenize).sentence_score(output, [reference])
        # Equal, not approximately: the verdicts must not move.
        assert ours_bleu.score(output, reference) == expected.score / 100


def test_our_13a_tokenizer_equals_sacrebleus() -> None:
    theirs = Tokenizer13a()
    texts = [
        *(text for pair in random_texts(17, 200) for text in pair),
        "Price: $3.50, or 3,5 EUR -- e.g. 10-20 items; see http://x.y/z?a=b&amp;c=d.",
        'He said "no"... (maybe) [not] {sure} ~ `code` ^_^ | a\\b <skipped> end-\nline',
        "  ",
        "",
        "1.000,5 -3 a-b 4-x .5 ,x x. x,",
        "a. 1. . , a, 1, -. a-. 7-. .. ,. a.. 1,. x.y. 3.5. (a). 'b', \"c\".",
    ]
    # Random strings over the characters the rules look at (digits, ".,-", separators,
    # whitespace, newlines, entities).
    rng = random.Random(19)
    alphabet = ["a", "B", "7", "0", ".", ",", "-", " ", "\n", "\t", "(", "$", "&amp;", "<skipped>"]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30))) for _ in range(500)]
    for text in texts:
        assert tokenize_13a(text) == theirs(text), text


def test_cached_sentence_scores_equal_sacrebleus_sentence_score() -> None:
    bleu, chrf = BLEU(effective_order=True), CHRF()
    ours_bleu, ours_chrf = SentenceScorer(bleu), SentenceScorer(chrf)
    for reference, output in random_texts(11, 300):
        expected_bleu = BLEU(effective_order=True).sentence_score(output, [reference]).score
        assert ours_bleu.score(output, reference) == pytest.approx(expected_bleu / 100)
        expected_chrf = CHRF().sentence_score(output, [reference]).score
        assert ours_chrf.score(output, reference) == pytest.approx(expected_chrf / 100)
