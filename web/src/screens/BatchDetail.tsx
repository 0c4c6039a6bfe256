// A batch's progress, live: one row per cell (version x model x parameter set), each a run.
import { useState } from "react";
import { pctDelta } from "../lib/format";
import type { Schemas } from "@promptworks/client";
import { useT } from "../i18n";
import { call } from "../lib/api";
import { progressOf, useLive } from "../lib/live";
import { useLoad } from "../lib/load";
import { navigate } from "../lib/router";
import { FailureBox, Link, Loading, money, pct, useSession, when } from "../ui";
import { Progress } from "./RunList";

type Batch = Schemas["BatchOut"];

export function BatchDetail({ id }: { id: string }) {
  const t = useT();
  const { api } = useSession();
  const loaded = useLoad(async () => (await call(api.GET("/api/v1/batches/{batch_id}", { params: { path: { batch_id: id } } }))).data, [api, id]);
  const live = useLive<Batch>(api, loaded.data ? { batch: id } : null, loaded.data);
  const [pair, setPair] = useState<string[]>([]);
  if (loaded.failure && !loaded.data) return <FailureBox failure={loaded.failure} retry={loaded.reload} />;
  const batch = live.value ?? loaded.data;
  if (!batch) return <Loading />;
  const [candidate, baseline] = [pair[1], pair[0]];
  return (
    <section>
      <div className="title-row">
        <h2>{t("batch.title")} {batch.name ?? batch.id.slice(0, 8)} <span className={`status s-${batch.status}`} data-testid="batch-status">{t(`status.${batch.status}`)}</span></h2>
      </div>
      {live.lost && <FailureBox failure={{ offline: true, status: 0, problem: null, message: "" }} retry={live.retry} />}
      <dl className="facts">
        <dt>{t("runs.progress")}</dt><dd data-testid="batch-progress"><Progress value={batch.progress} label={`${batch.recorded}/${batch.total_calls}`} /></dd>
        <dt>{t("runs.cost")}</dt><dd data-testid="batch-cost">{batch.cost.map(money).join(" + ") || "—"}</dd>
        <dt>{t("common.created")}</dt><dd>{when(batch.created_at)}</dd>
        <dt>{t("batch.live")}</dt><dd>{live.ended ? t("batch.streamEnded") : t("batch.streaming")}</dd>
      </dl>
      <p className="muted">{t("batch.pickTwo")}</p>
      <table data-testid="cell-table">
        <thead><tr><th /><th>{t("batch.version")}</th><th>{t("runs.model")}</th><th>{t("batch.parameters")}</th><th>{t("runs.status")}</th><th>{t("runs.progress")}</th><th>{t("runs.passRate")}</th><th>{t("runs.cost")}</th></tr></thead>
        <tbody>
          {batch.cells.map((c) => {
            const summary = (c.evaluation_summary ?? null) as Record<string, unknown> | null;
            return (
              <tr key={c.run_id}>
                <td><input type="checkbox" data-testid={`cell-v${c.prompt_version_number}-${c.model_name}`} checked={pair.includes(c.run_id)} onChange={() => setPair((p) => (p.includes(c.run_id) ? p.filter((x) => x !== c.run_id) : [...p.slice(-1), c.run_id]))} /></td>
                <td><Link to={`/runs/${c.run_id}`} testId={`cell-run-v${c.prompt_version_number}-${c.model_name}`}>v{c.prompt_version_number}</Link></td>
                <td>{c.provider}/{c.model_name}</td>
                <td><code>{JSON.stringify(c.parameters)}</code></td>
                <td>{c.status ? t(`status.${c.status}`) : "—"}</td>
                <td><Progress value={progressOf(c.recorded, c.total_calls)} label={`${c.recorded}/${c.total_calls}`} /></td>
                <td>{summary ? pct(summary["pass_rate"] as number | null) : "—"}</td>
                <td>{money(c.cost)}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      <button disabled={!candidate || !baseline} data-testid="compare-cells" onClick={() => navigate(`/runs/${candidate}/compare?baseline=${baseline}`)}>{t("compare.go")}</button>
      <Matrix batch={batch} />
    </section>
  );
}

/** Every cell against one baseline cell (`/batches/{id}/compare`): verdict, pass-rate delta and
 * its p-value, flipped cases; loaded once the batch has finished. */
function Matrix({ batch }: { batch: Batch }) {
  const t = useT();
  const { api } = useSession();
  const [baseline, setBaseline] = useState(batch.cells[0]?.run_id ?? "");
  const done = batch.status !== "queued" && batch.status !== "running";
  const loaded = useLoad(async () => {
    if (!done || !baseline) return null;
    return (await call(api.GET("/api/v1/batches/{batch_id}/compare", { params: { path: { batch_id: batch.id }, query: { baseline } } }))).data;
  }, [api, batch.id, baseline, done]);
  const cellOf = (runId: string) => batch.cells.find((c) => c.run_id === runId);
  const label = (runId: string) => { const c = cellOf(runId); return c ? `v${c.prompt_version_number} · ${c.provider}/${c.model_name} · #${c.parameter_set}` : runId.slice(0, 8); };
  if (!done) return null;
  return (
    <>
      <h3>{t("batch.matrix")}</h3>
      <div className="filters">
        <span>{t("compare.baseline")}</span>
        <select value={baseline} data-testid="matrix-baseline" onChange={(e) => setBaseline(e.target.value)}>
          {batch.cells.map((c) => <option key={c.run_id} value={c.run_id}>{label(c.run_id)}</option>)}
        </select>
      </div>
      {loaded.failure && <FailureBox failure={loaded.failure} retry={loaded.reload} />}
      {loaded.data && (
        <table data-testid="matrix-table">
          <thead><tr><th>{t("batch.cell")}</th><th>{t("compare.verdict")}</th><th>{t("runs.passRate")} {t("compare.delta")}</th><th>p</th><th>{t("compare.regressions")}</th><th>{t("compare.fixes")}</th><th /></tr></thead>
          <tbody>
            {loaded.data.cells.filter((c) => c.run_id !== baseline).map((c) => (
              <tr key={c.run_id}>
                <td>{label(c.run_id)}</td>
                <td>{c.comparison ? <span className={`verdict-chip v-${c.comparison.verdict}`}>{t(`verdict.${c.comparison.verdict}`)}</span> : "—"}</td>
                <td>{c.comparison ? pctDelta(c.comparison.pass_rate.delta) : "—"}</td>
                <td>{c.comparison ? c.comparison.pass_rate.p_value.toFixed(3) : "—"}</td>
                <td>{c.comparison?.regressions.length ?? "—"}</td>
                <td>{c.comparison?.fixes.length ?? "—"}</td>
                <td>{c.comparison && <Link to={`/runs/${c.run_id}/compare?baseline=${baseline}`}>{t("compare.details")}</Link>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
