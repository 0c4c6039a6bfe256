// One run: live progress, its evaluation summary, cancel, the results (filters, cursor paging)
// and a comparison with another run of the same prompt.
import { useState } from "react";
import type { Schemas } from "@promptworks/client";
import { useT } from "../i18n";
import { asFailure, call, nextCursor } from "../lib/api";
import { progressOf, useLive } from "../lib/live";
import { useLoad } from "../lib/load";
import type { Failure } from "../lib/problems";
import { navigate } from "../lib/router";
import { FailureBox, Link, Loading, money, pct, useSession, when, CursorPager } from "../ui";
import { RunAdvice } from "./RunAdvice";
import { Progress } from "./RunList";

type Run = Schemas["RunOut"];

export function RunDetail({ id }: { id: string }) {
  const t = useT();
  const { api } = useSession();
  const loaded = useLoad(async () => (await call(api.GET("/api/v1/test_prompt/{run_id}", { params: { path: { run_id: id } } }))).data, [api, id]);
  const going = loaded.data ? !(["completed", "failed", "cancelled"].includes(loaded.data.status) && loaded.data.evaluation_summary) : false;
  const live = useLive<Run>(api, going ? { run: id } : null, loaded.data);
  const [actionFailure, setActionFailure] = useState<Failure | null>(null);
  const [baseline, setBaseline] = useState("");
  const others = useLoad(async () => {
    if (!loaded.data) return [];
    return (await call(api.GET("/api/v1/test_prompt", { params: { query: { prompt_id: loaded.data.prompt_id, limit: 50 } } }))).data.filter((r) => r.id !== id);
  }, [api, id, loaded.data?.prompt_id]);
  if (loaded.failure && !loaded.data) return <FailureBox failure={loaded.failure} retry={loaded.reload} />;
  const run = live.value ?? loaded.data;
  if (!run) return <Loading />;
  const summary = (run.evaluation_summary ?? null) as Record<string, unknown> | null;
  const cancel = async () => {
    setActionFailure(null);
    try { await call(api.POST("/api/v1/test_prompt/{run_id}/cancel", { params: { path: { run_id: id } } })); loaded.reload(); }
    catch (e) { setActionFailure(asFailure(e)); }
  };
  return (
    <section>
      <div className="title-row">
        <h2>{t("runs.run")} {run.id.slice(0, 8)} <span className={`status s-${run.status}`} data-testid="run-status">{t(`status.${run.status}`)}</span></h2>
        <div className="actions">
          {(run.status === "queued" || run.status === "running") && <button onClick={() => void cancel()}>{t("runs.cancel")}</button>}
          {run.batch_id && <Link to={`/batches/${run.batch_id}`}>{t("runs.batch")}</Link>}
          <Link to={`/prompts/${run.prompt_id}`}>{t("runs.prompt")} v{run.prompt_version_number}</Link>
        </div>
      </div>
      {live.lost && <FailureBox failure={{ offline: true, status: 0, problem: null, message: "" }} retry={live.retry} />}
      {actionFailure && <FailureBox failure={actionFailure} />}
      <dl className="facts">
        <dt>{t("runs.model")}</dt><dd>{run.provider}/{run.model_name}</dd>
        <dt>{t("runs.progress")}</dt><dd><Progress value={progressOf(run.recorded, run.total_calls)} label={`${run.recorded}/${run.total_calls}`} /></dd>
        <dt>{t("runs.succeededFailed")}</dt><dd>{run.succeeded} / {run.failed}</dd>
        <dt>{t("runs.cost")}</dt><dd data-testid="run-cost">{money(run.cost)} ({t("runs.estimated")} {money(run.estimated_cost)}; {t("runs.budget")} {money(run.budget)})</dd>
        <dt>{t("runs.passRate")}</dt><dd data-testid="pass-rate">{summary ? pct(summary["pass_rate"] as number | null) : "—"}</dd>
        <dt>{t("common.created")}</dt><dd>{when(run.created_at)}</dd>
      </dl>
      {run.failure_reason && <p className="warn">{run.failure_reason}</p>}
      <div className="filters">
        <select value={baseline} onChange={(e) => setBaseline(e.target.value)} data-testid="baseline">
          <option value="">{t("compare.pickBaseline")}</option>
          {others.data?.map((r) => <option key={r.id} value={r.id}>{r.id.slice(0, 8)} · v{r.prompt_version_number} · {r.model_name} · {t(`status.${r.status}`)}</option>)}
        </select>
        <button disabled={!baseline} data-testid="compare" onClick={() => navigate(`/runs/${id}/compare?baseline=${baseline}`)}>{t("compare.go")}</button>
      </div>
      {!going && <RunAdvice runId={id} />}
      <Results runId={id} version={run.recorded} />
    </section>
  );
}

function Results({ runId, version }: { runId: string; version: number }) {
  const t = useT();
  const { api } = useSession();
  const [passed, setPassed] = useState<"" | "true" | "false">("");
  const [q, setQ] = useState("");
  const [caseIndex, setCaseIndex] = useState("");
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const cursor = cursors[cursors.length - 1] ?? null;
  // Reloads as results arrive (version = how many are recorded), only while on the first page.
  const refreshKey = cursors.length === 1 ? version : -1;
  const page = useLoad(async () => {
    const query = {
      limit: 25, ...(passed ? { passed: passed === "true" } : {}), ...(q ? { q } : {}),
      ...(caseIndex.trim() !== "" ? { case_index: Number(caseIndex) } : {}), ...(cursor ? { cursor } : {}),
    };
    const { data, response } = await call(api.GET("/api/v1/test_prompt/{run_id}/results", { params: { path: { run_id: runId }, query } }));
    return { items: data, next: nextCursor(response) };
  }, [api, runId, passed, q, caseIndex, cursor, refreshKey]);
  return (
    <>
      <h3>{t("results.title")}</h3>
      <div className="filters">
        <select value={passed} onChange={(e) => { setPassed(e.target.value as "" | "true" | "false"); setCursors([null]); }} data-testid="passed-filter">
          <option value="">{t("results.all")}</option>
          <option value="true">{t("results.passed")}</option>
          <option value="false">{t("results.failed")}</option>
        </select>
        <input placeholder={t("results.search")} value={q} onChange={(e) => { setQ(e.target.value); setCursors([null]); }} />
        <input type="number" min={0} placeholder={t("results.caseFilter")} value={caseIndex} data-testid="case-filter" onChange={(e) => { setCaseIndex(e.target.value); setCursors([null]); }} />
      </div>
      {page.failure && <FailureBox failure={page.failure} retry={page.reload} />}
      {page.data && (
        <>
          <table data-testid="results-table">
            <thead><tr><th>{t("results.case")}</th><th>{t("results.rep")}</th><th>{t("results.output")}</th><th>{t("results.passedCol")}</th><th>{t("results.metrics")}</th><th>{t("results.latency")}</th><th>{t("results.tokens")}</th><th>{t("runs.cost")}</th></tr></thead>
            <tbody>
              {page.data.items.map((r) => (
                <tr key={r.id}>
                  <td><button className="link" onClick={() => { setCaseIndex(String(r.case_index)); setCursors([null]); }}>{r.case_index}</button></td><td>{r.repetition}</td>
                  <td><pre className="snippet">{r.error ? `⚠ ${r.error}` : r.output}</pre></td>
                  <td>{r.passed === null || r.passed === undefined ? "—" : r.passed ? "✔" : "✘"}</td>
                  <td>{r.metrics.map((m) => <span key={m.name} className={`chip ${m.passed === false ? "bad" : ""}`}>{m.name}: {m.value === null ? "—" : Number(m.value.toFixed(3))}</span>)}</td>
                  <td>{Math.round(r.latency_ms)} ms</td>
                  <td>{r.total_tokens}</td>
                  <td>{money(r.cost)}</td>
                </tr>
              ))}
              {page.data.items.length === 0 && <tr><td colSpan={8} className="muted">{t("common.empty")}</td></tr>}
            </tbody>
          </table>
          <CursorPager cursors={cursors} setCursors={setCursors} next={page.data.next} />
        </>
      )}
    </>
  );
}
