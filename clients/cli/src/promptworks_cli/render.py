"""Human output (rich tables) and machine output (JSON, CSV, JSONL) of API documents."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

RESULT_COLUMNS = (
    "case_index", "repetition", "output", "error", "latency_ms", "prompt_tokens",
    "completion_tokens", "total_tokens", "cost", "failed_checks",
)  # fmt: skip


def as_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def money(value: dict[str, Any] | None) -> str:
    return "" if not value else f"{value['amount']} {value['currency']}"


def failed_checks(result: dict[str, Any]) -> list[str]:
    return [m["name"] for m in result.get("metrics", []) if m.get("passed") is False]


def prompts_table(prompts: Iterable[dict[str, Any]]) -> Table:
    table = Table("id", "name", "class", "current", "labels", "updated")
    for p in prompts:
        current = p.get("current_version") or {}
        labels = ", ".join(f"{k}→{v}" for k, v in sorted((p.get("labels") or {}).items()))
        table.add_row(
            p["id"], p["name"], (p.get("class") or {}).get("name") or "",
            str(current.get("number", "")), labels, p["updated_at"],
        )  # fmt: skip
    return table


def versions_table(versions: Iterable[dict[str, Any]], labels: dict[str, int]) -> Table:
    by_number: dict[int, list[str]] = {}
    for label, number in labels.items():
        by_number.setdefault(number, []).append(label)
    table = Table("number", "id", "version label", "labels", "created")
    for v in versions:
        table.add_row(
            str(v["number"]), v["id"], v.get("label") or "",
            ", ".join(sorted(by_number.get(v["number"], []))), v["created_at"],
        )  # fmt: skip
    return table


def run_table(run: dict[str, Any]) -> Table:
    table = Table("field", "value", title=f"run {run['id']}")
    summary = run.get("evaluation_summary") or {}
    rate = summary.get("pass_rate")
    reason = f" ({run['failure_reason']})" if run.get("failure_reason") else ""
    calls = (
        f"{run['recorded']}/{run['total_calls']} ({run['succeeded']} ok, {run['failed']} failed)"
    )
    passed = f"{summary.get('passed')}/{summary.get('evaluated')}"
    rows = [
        ("status", run["status"] + reason),
        ("prompt version", f"{run['prompt_id']} v{run['prompt_version_number']}"),
        ("model", f"{run['provider']}/{run['model_name']}"),
        ("calls", calls),
        ("cost", money(run.get("cost"))),
        ("pass rate", "" if rate is None else f"{rate:.1%} ({passed})"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table


def metrics_table(run: dict[str, Any]) -> Table:
    table = Table("metric", "count", "mean", "min", "max", "pass rate")
    for s in (run.get("evaluation_summary") or {}).get("summaries", []):
        table.add_row(
            s["name"], str(s.get("count", "")), _num(s.get("mean")), _num(s.get("min")),
            _num(s.get("max")), "" if s.get("pass_rate") is None else f"{s['pass_rate']:.1%}",
        )  # fmt: skip
    return table


def results_table(results: Iterable[dict[str, Any]]) -> Table:
    table = Table("case", "rep", "output", "latency ms", "tokens", "failed checks")
    for r in results:
        output = r["output"] if r.get("error") is None else f"[red]error: {r['error']}[/red]"
        table.add_row(
            str(r["case_index"]), str(r["repetition"]), _short(output or ""),
            f"{r['latency_ms']:.0f}", str(r["total_tokens"]), ", ".join(failed_checks(r)),
        )  # fmt: skip
    return table


def batch_table(batch: dict[str, Any]) -> Table:
    table = Table("run", "version", "model", "set", "status", "calls", "pass rate", "cost")
    for c in batch["cells"]:
        rate = (c.get("evaluation_summary") or {}).get("pass_rate")
        table.add_row(
            c["run_id"], str(c["prompt_version_number"]), f"{c['provider']}/{c['model_name']}",
            str(c["parameter_set"]), c.get("status") or "", f"{c['recorded']}/{c['total_calls']}",
            "" if rate is None else f"{rate:.1%}", money(c.get("cost")),
        )  # fmt: skip
    return table


def result_row(result: dict[str, Any]) -> dict[str, Any]:
    row = {name: result.get(name) for name in RESULT_COLUMNS}
    row["cost"] = money(result.get("cost"))
    row["failed_checks"] = " ".join(failed_checks(result))
    return row


def csv_lines(results: Iterable[dict[str, Any]]) -> Iterable[str]:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=RESULT_COLUMNS)
    writer.writeheader()
    for result in results:
        writer.writerow(result_row(result))
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


def print_table(console: Console, table: Table) -> None:
    console.print(table)


def _num(value: Any) -> str:
    return "" if value is None else f"{value:.4g}"


def _short(text: str, width: int = 60) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def advice_text(found: dict[str, Any]) -> str:
    """Advice as a terminal reads it: each section, the revised template, the saved version."""
    if found["status"] != "given":
        return f"[red]no advice ({found['status']}):[/red] {found.get('error') or ''}"
    advice = found["advice"]
    revision = advice["prompt_revision"]
    template = (
        revision["text"]
        if revision["kind"] == "text"
        else "\n\n".join(f"[{m['role']}] {m['content']}" for m in revision["messages"])
    )
    sections = [
        ("Overall", advice["overall_advice"]),
        ("Parameters", advice["parameter_advice"]),
        ("Model", advice["model_advice"]),
        ("Revised template", template),
        ("Why", advice.get("revision_rationale") or ""),
        ("Validation plan", advice["validation_plan"]),
    ]
    lines = [f"[bold]{title}[/bold]\n{escape(text)}\n" for title, text in sections if text]
    if found.get("evaluation_id"):
        lines.insert(0, f"Grounded in evaluation {found['evaluation_id']}\n")
    if found.get("saved_version") is not None:
        lines.append(f"Saved as version {found['saved_version']} of prompt {found['prompt_id']}")
    return "\n".join(lines)
