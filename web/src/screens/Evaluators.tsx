// Evaluators: named, versioned sets of assertions (search, cursor paging); one's latest version
// and its change history.
import { useEffect, useState } from "react";
import { useT } from "../i18n";
import { call, nextCursor } from "../lib/api";
import { useLoad } from "../lib/load";
import { FailureBox, Loading, useSession, when } from "../ui";

export function Evaluators() {
  const t = useT();
  const { api } = useSession();
  const [typed, setTyped] = useState("");
  const [q, setQ] = useState("");
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const [open, setOpen] = useState<string | null>(null);
  useEffect(() => {
    const timer = setTimeout(() => { setQ(typed.trim()); setCursors([null]); }, 250);
    return () => clearTimeout(timer);
  }, [typed]);
  const cursor = cursors[cursors.length - 1] ?? null;
  const page = useLoad(async () => {
    const query = { limit: 25, ...(q ? { q } : {}), ...(cursor ? { cursor } : {}) };
    const { data, response } = await call(api.GET("/api/v1/evaluators", { params: { query } }));
    return { items: data, next: nextCursor(response) };
  }, [api, q, cursor]);
  return (
    <section>
      <h2>{t("evaluators.title")}</h2>
      <div className="filters"><input placeholder={t("prompts.search")} value={typed} onChange={(e) => setTyped(e.target.value)} /></div>
      {page.failure && <FailureBox failure={page.failure} retry={page.reload} />}
      {!page.data && !page.failure && <Loading />}
      {page.data && (
        <>
          <table data-testid="evaluator-table">
            <thead><tr><th>{t("prompts.name")}</th><th>{t("editor.description")}</th><th>{t("evaluators.version")}</th><th>{t("common.author")}</th><th>{t("common.updated")}</th></tr></thead>
            <tbody>
              {page.data.items.map((e) => (
                <tr key={e.id}>
                  <td><button className="link" onClick={() => setOpen(open === e.id ? null : e.id)}>{e.name}</button></td>
                  <td>{e.description}</td><td>v{e.latest_version}</td><td>{e.created_by}</td><td>{when(e.updated_at)}</td>
                </tr>
              ))}
              {page.data.items.length === 0 && <tr><td colSpan={5} className="muted">{t("common.empty")}</td></tr>}
            </tbody>
          </table>
          <div className="pager">
            <button disabled={cursors.length <= 1} onClick={() => setCursors((c) => c.slice(0, -1))}>{t("common.prev")}</button>
            <span className="muted">{t("common.page", { n: cursors.length })}</span>
            <button disabled={!page.data.next} onClick={() => setCursors((c) => [...c, page.data!.next])}>{t("common.next")}</button>
          </div>
        </>
      )}
      {open && <EvaluatorDetail id={open} />}
    </section>
  );
}

function EvaluatorDetail({ id }: { id: string }) {
  const t = useT();
  const { api } = useSession();
  const loaded = useLoad(async () => {
    const path = { evaluator_id: id };
    const [evaluator, history] = await Promise.all([
      call(api.GET("/api/v1/evaluators/{evaluator_id}", { params: { path } })),
      call(api.GET("/api/v1/evaluators/{evaluator_id}/history", { params: { path } })),
    ]);
    return { evaluator: evaluator.data, history: history.data };
  }, [api, id]);
  if (loaded.failure) return <FailureBox failure={loaded.failure} retry={loaded.reload} />;
  if (!loaded.data) return <Loading />;
  const { evaluator, history } = loaded.data;
  return (
    <div className="preview">
      <h3>{evaluator.name} · v{evaluator.latest_version}</h3>
      <pre className="snippet-full">{JSON.stringify(evaluator.latest?.assertions ?? [], null, 2)}</pre>
      <h3>{t("prompt.history")}</h3>
      <table>
        <thead><tr><th>{t("common.when")}</th><th>{t("prompt.actor")}</th><th>{t("prompt.event")}</th><th>{t("prompt.summary")}</th></tr></thead>
        <tbody>{(Array.isArray(history) ? history : []).map((h) => <tr key={h.stream_version}><td>{when(h.at)}</td><td>{h.actor}</td><td>{h.kind}{h.version ? ` v${h.version}` : ""}</td><td>{h.message}</td></tr>)}</tbody>
      </table>
    </div>
  );
}
