// A run against a baseline: pass rates and per-metric deltas with confidence and significance,
// the cases that flipped, and the regression verdict.
import { useT } from "../i18n";
import { call } from "../lib/api";
import { useLoad } from "../lib/load";
import { FailureBox, Link, Loading, pct, useSession } from "../ui";

export function RunCompare({ id, baseline }: { id: string; baseline: string | null }) {
  const t = useT();
  const { api } = useSession();
  const loaded = useLoad(async () => {
    if (!baseline) return null;
    return (await call(api.GET("/api/v1/test_prompt/{run_id}/compare", { params: { path: { run_id: id }, query: { baseline } } }))).data;
  }, [api, id, baseline]);
  if (!baseline) return <p>{t("compare.pickBaseline")}</p>;
  if (loaded.failure) return <FailureBox failure={loaded.failure} retry={loaded.reload} />;
  const c = loaded.data;
  if (!c) return <Loading />;
  const n = (x: number | null | undefined) => (x === null || x === undefined ? "—" : Number(x.toFixed(4)).toString());
  return (
    <section>
      <h2>{t("compare.title")}</h2>
      <p>
        <Link to={`/runs/${c.run_id}`}>{t("compare.candidate")} {c.run_id.slice(0, 8)}</Link> · <Link to={`/runs/${c.baseline_run_id}`}>{t("compare.baseline")} {c.baseline_run_id.slice(0, 8)}</Link>
      </p>
      <div className={`verdict v-${c.verdict}`} data-testid="verdict">{t(`verdict.${c.verdict}`)}</div>
      <dl className="facts">
        <dt>{t("compare.pairs")}</dt><dd>{c.pairs} ({t("compare.unpaired")} {c.unpaired})</dd>
        <dt>{t("runs.passRate")}</dt><dd>{pct(c.pass_rate.baseline)} → {pct(c.pass_rate.candidate)} ({t("compare.delta")} {pct(c.pass_rate.delta)}, p = {n(c.pass_rate.p_value)}{c.pass_rate.significant ? `, ${t("compare.significant")}` : ""})</dd>
        <dt>α</dt><dd>{c.alpha} · {t("compare.maxDrop")} {pct(c.max_pass_rate_drop)}</dd>
      </dl>
      <h3>{t("compare.metrics")}</h3>
      <table data-testid="metric-table">
        <thead><tr><th>{t("compare.metric")}</th><th>{t("compare.baseline")}</th><th>{t("compare.candidate")}</th><th>{t("compare.delta")}</th><th>{t("compare.interval")}</th><th>{t("compare.significant")}</th></tr></thead>
        <tbody>
          {c.metrics.map((m) => (
            <tr key={m.name}>
              <td>{m.name}</td><td>{n(m.baseline_mean)}</td><td>{n(m.candidate_mean)}</td>
              <td className={m.delta > 0 ? "up" : m.delta < 0 ? "down" : ""}>{n(m.delta)}</td>
              <td>[{n(m.delta_interval.low)}, {n(m.delta_interval.high)}]</td>
              <td>{m.significant ? "✔" : ""}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <div className="grid2">
        <div><h3>{t("compare.regressions")} ({c.regressions.length})</h3><ul>{c.regressions.map((p) => <li key={`${p.case_index}-${p.repetition}`}>{t("results.case")} {p.case_index} · {t("results.rep")} {p.repetition}</li>)}</ul></div>
        <div><h3>{t("compare.fixes")} ({c.fixes.length})</h3><ul>{c.fixes.map((p) => <li key={`${p.case_index}-${p.repetition}`}>{t("results.case")} {p.case_index} · {t("results.rep")} {p.repetition}</li>)}</ul></div>
      </div>
    </section>
  );
}
