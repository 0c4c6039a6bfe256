// Runs: filters, cursor paging, and live progress of the runs still going (their SSE streams).
import { useState } from "react";
import type { Schemas } from "@promptworks/client";
import { useT } from "../i18n";
import { call, nextCursor } from "../lib/api";
import { useLive, progressOf } from "../lib/live";
import { useLoad } from "../lib/load";
import { FailureBox, Link, Loading, money, useSession, when, CursorPager } from "../ui";

type Run = Schemas["RunOut"];
type Status = Run["status"];
const STATUSES: Status[] = ["queued", "running", "completed", "failed", "cancelled"];

type RunSort = "-created_at" | "created_at" | "-finished_at" | "finished_at" | "-cost" | "cost";

export function RunList({ promptId }: { promptId: string | null }) {
  const t = useT();
  const { api } = useSession();
  const [status, setStatus] = useState<Status | "">("");
  const [sort, setSort] = useState<RunSort>("-created_at");
  const [model, setModel] = useState("");
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const cursor = cursors[cursors.length - 1] ?? null;
  const page = useLoad(async () => {
    const query = {
      limit: 25, sort, ...(status ? { status } : {}), ...(model ? { model_name: model } : {}),
      ...(promptId ? { prompt_id: promptId } : {}), ...(cursor ? { cursor } : {}),
    };
    const { data, response } = await call(api.GET("/api/v1/test_prompt", { params: { query } }));
    return { items: data, next: nextCursor(response) };
  }, [api, status, model, sort, promptId, cursor]);
  return (
    <section>
      <div className="title-row">
        <h2>{t("runs.title")}</h2>
        <Link to="/batches/new" className="button" testId="new-batch">{t("runs.newBatch")}</Link>
      </div>
      <div className="filters">
        <select value={status} onChange={(e) => { setStatus(e.target.value as Status | ""); setCursors([null]); }}>
          <option value="">{t("runs.allStatuses")}</option>
          {STATUSES.map((s) => <option key={s} value={s}>{t(`status.${s}`)}</option>)}
        </select>
        <input placeholder={t("runs.model")} value={model} onChange={(e) => { setModel(e.target.value.trim()); setCursors([null]); }} />
        <select value={sort} aria-label={t("common.sort")} onChange={(e) => { setSort(e.target.value as RunSort); setCursors([null]); }}>
          <option value="-created_at">{t("runs.sortNewest")}</option>
          <option value="-finished_at">{t("runs.sortFinished")}</option>
          <option value="-cost">{t("runs.sortCost")}</option>
        </select>
        {promptId && <Link to="/runs">{t("runs.allPrompts")}</Link>}
      </div>
      {page.failure && <FailureBox failure={page.failure} retry={page.reload} />}
      {!page.data && !page.failure && <Loading />}
      {page.data && (
        <>
          <table data-testid="run-table">
            <thead><tr><th>{t("runs.run")}</th><th>{t("runs.prompt")}</th><th>{t("runs.model")}</th><th>{t("runs.status")}</th><th>{t("runs.progress")}</th><th>{t("runs.cost")}</th><th>{t("common.created")}</th></tr></thead>
            <tbody>{page.data.items.map((r) => <RunRow key={r.id} run={r} />)}</tbody>
          </table>
          <CursorPager cursors={cursors} setCursors={setCursors} next={page.data.next} />
        </>
      )}
    </section>
  );
}

function RunRow({ run }: { run: Run }) {
  const t = useT();
  const { api } = useSession();
  const going = run.status === "queued" || run.status === "running";
  const live = useLive<Run>(api, going ? { run: run.id } : null, run);
  const r = live.value ?? run;
  return (
    <tr>
      <td><Link to={`/runs/${r.id}`}>{r.id.slice(0, 8)}</Link>{r.batch_id && <> · <Link to={`/batches/${r.batch_id}`}>{t("runs.batch")}</Link></>}</td>
      <td>v{r.prompt_version_number}</td>
      <td>{r.provider}/{r.model_name}</td>
      <td><span className={`status s-${r.status}`}>{t(`status.${r.status}`)}</span></td>
      <td><Progress value={progressOf(r.recorded, r.total_calls)} label={`${r.recorded}/${r.total_calls}`} /></td>
      <td>{money(r.cost)}</td>
      <td>{when(r.created_at)}</td>
    </tr>
  );
}

export function Progress({ value, label }: { value: number; label: string }) {
  return (
    <span className="progress" data-progress={value.toFixed(3)}>
      <span className="bar" style={{ width: `${(value * 100).toFixed(1)}%` }} />
      <span className="plabel">{label}</span>
    </span>
  );
}
