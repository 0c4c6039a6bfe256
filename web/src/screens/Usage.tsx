// Cost and usage: totals, per model and per prompt, and a daily chart (the usage endpoints).
import { useState } from "react";
import type { Schemas } from "@promptworks/client";
import { useT } from "../i18n";
import { call } from "../lib/api";
import { useLoad } from "../lib/load";
import { FailureBox, Link, Loading, useSession } from "../ui";

type Money = Schemas["MoneyOut"];
const costs = (list: Money[]) => list.map((m) => `${Number(m.amount).toFixed(6)} ${m.currency}`).join(" + ") || "—";

export function Usage() {
  const t = useT();
  const { api } = useSession();
  const [days, setDays] = useState(30);
  const [model, setModel] = useState(""); // "provider/model" of the chart, or all
  const loaded = useLoad(async () => {
    const start = new Date(Date.now() - days * 86_400_000).toISOString();
    const [provider, ...name] = model.split("/");
    const only = model ? { provider: provider ?? "", model_name: name.join("/") } : {};
    const [overview, series] = await Promise.all([
      call(api.GET("/api/v1/usage/overview", { params: { query: { start } } })),
      call(api.GET("/api/v1/usage/timeseries", { params: { query: { start, ...only } } })),
    ]);
    return { overview: overview.data, series: series.data };
  }, [api, days, model]);
  if (loaded.failure) return <FailureBox failure={loaded.failure} retry={loaded.reload} />;
  if (!loaded.data) return <Loading />;
  const { overview, series } = loaded.data;
  const tops = series.points.map((p) => p.cost.reduce((s, m) => s + Number(m.amount), 0));
  const max = Math.max(...tops, 1e-12);
  return (
    <section>
      <div className="title-row">
        <h2>{t("usage.title")}</h2>
        <select value={days} onChange={(e) => setDays(Number(e.target.value))}>
          {[1, 7, 30, 90].map((d) => <option key={d} value={d}>{t("usage.lastDays", { n: d })}</option>)}
        </select>
      </div>
      <dl className="facts" data-testid="usage-totals">
        <dt>{t("runs.cost")}</dt><dd data-testid="usage-cost">{costs(overview.totals.cost)}</dd>
        <dt>{t("usage.calls")}</dt><dd>{overview.totals.calls} ({t("usage.failed")} {overview.totals.failed_calls}, {t("usage.cached")} {overview.totals.cached_calls}, {t("usage.quick")} <span data-testid="usage-quick">{overview.totals.quick_test_calls}</span>)</dd>
        <dt>{t("results.tokens")}</dt><dd>{overview.totals.prompt_tokens} + {overview.totals.completion_tokens} = {overview.totals.total_tokens}</dd>
      </dl>
      <div className="title-row">
        <h3>{t("usage.daily")}</h3>
        <select value={model} data-testid="usage-model" onChange={(e) => setModel(e.target.value)}>
          <option value="">{t("usage.allModels")}</option>
          {overview.by_model.map((g) => `${g.provider}/${g.model_name}`).map((m) => <option key={m} value={m}>{m}</option>)}
        </select>
      </div>
      <div className="chart" data-testid="usage-chart">
        {series.points.map((p, i) => (
          <div key={p.day} className="col" title={`${p.day}: ${costs(p.cost)}, ${p.calls}`}>
            <div className="bar" style={{ height: `${Math.max(2, (tops[i]! / max) * 120)}px` }} />
            <div className="day">{p.day.slice(5, 10)}</div>
          </div>
        ))}
        {series.points.length === 0 && <span className="muted">{t("common.empty")}</span>}
      </div>
      <h3>{t("usage.byModel")}</h3>
      <table data-testid="usage-models">
        <thead><tr><th>{t("runs.model")}</th><th>{t("usage.calls")}</th><th>{t("results.tokens")}</th><th>{t("runs.cost")}</th></tr></thead>
        <tbody>{overview.by_model.map((g, i) => <tr key={i}><td>{g.provider}/{g.model_name}</td><td>{g.calls}</td><td>{g.total_tokens}</td><td>{costs(g.cost)}</td></tr>)}</tbody>
      </table>
      <h3>{t("usage.byPrompt")}</h3>
      <table>
        <thead><tr><th>{t("runs.prompt")}</th><th>{t("usage.calls")}</th><th>{t("results.tokens")}</th><th>{t("runs.cost")}</th></tr></thead>
        <tbody>{overview.by_prompt.map((g, i) => <tr key={i}><td>{g.prompt_id ? <Link to={`/prompts/${g.prompt_id}`}>{g.prompt_id.slice(0, 8)}</Link> : "—"}</td><td>{g.calls}</td><td>{g.total_tokens}</td><td>{costs(g.cost)}</td></tr>)}</tbody>
      </table>
    </section>
  );
}
