// A prompt: its versions, labels (move one, roll back), history with actors, links to diff/test.
import { useState } from "react";
import { useT } from "../i18n";
import { asFailure, call } from "../lib/api";
import { useLoad } from "../lib/load";
import type { Failure } from "../lib/problems";
import { navigate } from "../lib/router";
import { templateText } from "../lib/templates";
import { FailureBox, Link, Loading, useSession, when } from "../ui";

export function PromptDetail({ id }: { id: string }) {
  const t = useT();
  const { api } = useSession();
  const path = { prompt_id: id };
  const loaded = useLoad(async () => {
    const [prompt, versions, history] = await Promise.all([
      call(api.GET("/api/v1/prompts/{prompt_id}", { params: { path } })),
      call(api.GET("/api/v1/prompts/{prompt_id}/versions", { params: { path, query: { limit: 50 } } })),
      call(api.GET("/api/v1/prompts/{prompt_id}/history", { params: { path, query: { limit: 50 } } })),
    ]);
    return { prompt: prompt.data, versions: versions.data, history: history.data };
  }, [api, id]);
  const [actionFailure, setActionFailure] = useState<Failure | null>(null);
  const [label, setLabel] = useState("production");
  const [selected, setSelected] = useState<number[]>([]);
  const act = async (work: () => Promise<unknown>) => {
    setActionFailure(null);
    try { await work(); loaded.reload(); } catch (e) { setActionFailure(asFailure(e)); }
  };
  if (loaded.failure && !loaded.data) return <FailureBox failure={loaded.failure} retry={loaded.reload} />;
  if (!loaded.data) return <Loading />;
  const { prompt, versions, history } = loaded.data;
  const current = prompt.current_version?.number ?? null;
  const toggle = (n: number) =>
    setSelected((s) => (s.includes(n) ? s.filter((x) => x !== n) : [...s.slice(-1), n]));
  const [a, b] = [...selected].sort((x, y) => x - y);
  return (
    <section>
      <div className="title-row">
        <h2 data-testid="prompt-name">{prompt.name}</h2>
        <div className="actions">
          <Link to={`/prompts/${id}/versions/new`} className="button" testId="new-version">{t("prompt.newVersion")}</Link>
          <Link to={`/batches/new?prompt=${id}`} className="button" testId="test-prompt">{t("prompt.test")}</Link>
          <Link to={`/runs?prompt=${id}`} testId="prompt-runs">{t("prompt.runs")}</Link>
        </div>
      </div>
      <p className="muted">{prompt.description} · {prompt.author} · {prompt.class?.name ?? ""}</p>
      {actionFailure && <FailureBox failure={actionFailure} />}
      <h3>{t("prompt.labels")}</h3>
      <div className="chips">
        {Object.entries(prompt.labels).map(([k, v]) => <span key={k} className="chip">{k} → v{v}</span>)}
      </div>
      <h3>{t("prompt.versions")}</h3>
      <div className="actions">
        <input value={label} onChange={(e) => setLabel(e.target.value)} aria-label={t("prompt.labelName")} />
        <span className="muted">{t("prompt.selectTwo")}</span>
        <button
          disabled={a === undefined || b === undefined}
          data-testid="diff-selected"
          onClick={() => navigate(`/prompts/${id}/diff?from=${a}&to=${b}`)}
        >{t("prompt.diff")}</button>
      </div>
      <table data-testid="version-table">
        <thead><tr><th /><th>#</th><th>{t("prompt.message")}</th><th>{t("common.author")}</th><th>{t("common.created")}</th><th>{t("prompt.template")}</th><th /></tr></thead>
        <tbody>
          {versions.map((v) => (
            <tr key={v.id} className={v.number === current ? "current" : ""}>
              <td><input type="checkbox" data-testid={`pick-${v.number}`} checked={selected.includes(v.number)} onChange={() => toggle(v.number)} /></td>
              <td>v{v.number}{v.number === current ? ` (${t("prompt.current")})` : ""}</td>
              <td>{v.commit_message}</td>
              <td>{v.author}</td>
              <td>{when(v.created_at)}</td>
              <td><pre className="snippet">{templateText(v.template).slice(0, 160)}</pre></td>
              <td className="actions">
                <button onClick={() => void act(() => call(api.PUT("/api/v1/prompts/{prompt_id}/labels/{label}", { params: { path: { prompt_id: id, label } }, body: { version_number: v.number } })))}>{t("prompt.setLabel")}</button>
                {v.number !== current && (
                  <button data-testid={`rollback-${v.number}`} onClick={() => void act(() => call(api.POST("/api/v1/prompts/{prompt_id}/rollback", { params: { path }, body: { version_number: v.number, message: `rollback to v${v.number}` } })))}>{t("prompt.rollback")}</button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <h3>{t("prompt.history")}</h3>
      <table data-testid="history-table">
        <thead><tr><th>{t("common.when")}</th><th>{t("prompt.actor")}</th><th>{t("prompt.event")}</th><th>{t("prompt.summary")}</th></tr></thead>
        <tbody>
          {history.map((h) => (
            <tr key={h.stream_version}><td>{when(h.at)}</td><td>{h.actor}</td><td>{h.type}</td><td>{h.summary}{h.message ? ` — ${h.message}` : ""}</td></tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
