// Two versions side by side: the template line by line, plus the API's diff of the rest
// (variables, default model and parameters, commit messages).
import { useT } from "../i18n";
import { call } from "../lib/api";
import { diffStats, sideBySide } from "../lib/diff";
import { useLoad } from "../lib/load";
import { navigate } from "../lib/router";
import { templateText } from "../lib/templates";
import { FailureBox, Link, Loading, useSession } from "../ui";

export function VersionDiff({ id, from, to }: { id: string; from: string | null; to: string | null }) {
  const t = useT();
  const { api } = useSession();
  const loaded = useLoad(async () => {
    const path = { prompt_id: id };
    const versions = (await call(api.GET("/api/v1/prompts/{prompt_id}/versions", { params: { path, query: { limit: 100 } } }))).data;
    const numbers = versions.map((v) => v.number).sort((x, y) => x - y);
    const a = from ? Number(from) : numbers[numbers.length - 2] ?? numbers[0] ?? 1;
    const b = to ? Number(to) : numbers[numbers.length - 1] ?? 1;
    const [left, right, diff] = await Promise.all([
      call(api.GET("/api/v1/prompts/{prompt_id}/versions/{number}", { params: { path: { prompt_id: id, number: a } } })),
      call(api.GET("/api/v1/prompts/{prompt_id}/versions/{number}", { params: { path: { prompt_id: id, number: b } } })),
      call(api.GET("/api/v1/prompts/{prompt_id}/diff", { params: { path, query: { from: a, to: b } } })),
    ]);
    return { numbers, a, b, left: left.data, right: right.data, diff: diff.data };
  }, [api, id, from, to]);
  if (loaded.failure) return <FailureBox failure={loaded.failure} retry={loaded.reload} />;
  if (!loaded.data) return <Loading />;
  const { numbers, a, b, left, right, diff } = loaded.data;
  const rows = sideBySide(templateText(left.template), templateText(right.template));
  const stats = diffStats(rows);
  const pick = (side: "from" | "to", n: string) => navigate(`/prompts/${id}/diff?from=${side === "from" ? n : a}&to=${side === "to" ? n : b}`);
  return (
    <section>
      <div className="title-row">
        <h2>{t("diff.title")}</h2>
        <Link to={`/prompts/${id}`}>{t("common.back")}</Link>
      </div>
      <div className="filters">
        <select value={a} onChange={(e) => pick("from", e.target.value)} data-testid="diff-from">{numbers.map((n) => <option key={n} value={n}>v{n}</option>)}</select>
        <span>→</span>
        <select value={b} onChange={(e) => pick("to", e.target.value)} data-testid="diff-to">{numbers.map((n) => <option key={n} value={n}>v{n}</option>)}</select>
        <span className="muted" data-testid="diff-stats">{t("diff.stats", stats)}</span>
      </div>
      <table className="diff" data-testid="diff-table">
        <thead><tr><th colSpan={2}>v{a} · {left.commit_message}</th><th colSpan={2}>v{b} · {right.commit_message}</th></tr></thead>
        <tbody>
          {rows.map((r, i) => (
            <tr key={i} className={`d-${r.kind}`}>
              <td className="ln">{r.leftNo ?? ""}</td><td className="l"><pre>{r.left ?? ""}</pre></td>
              <td className="ln">{r.rightNo ?? ""}</td><td className="r"><pre>{r.right ?? ""}</pre></td>
            </tr>
          ))}
        </tbody>
      </table>
      <h3>{t("editor.variables")}</h3>
      <pre className="snippet">{JSON.stringify(diff.variables, null, 2)}</pre>
      <h3>{t("diff.model")}</h3>
      <pre className="snippet">{JSON.stringify({ default_model: diff.default_model, default_parameters: diff.default_parameters }, null, 2)}</pre>
    </section>
  );
}
