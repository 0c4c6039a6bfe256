// A batch: versions x models x parameter sets over pasted cases (JSON, JSONL or CSV), with
// assertions, repetitions and a budget; the calls and the estimated cost are shown before start.
import { useEffect, useMemo, useState } from "react";
import type { Schemas } from "@promptworks/client";
import { useT } from "../i18n";
import { asFailure, call } from "../lib/api";
import { CaseParseError, detectFormat, parseCases, type Case } from "../lib/cases";
import { batchEstimate, pricingOf, promptChars, type Provider } from "../lib/estimate";
import { useLoad } from "../lib/load";
import { problemToFormErrors, type FormErrors } from "../lib/problems";
import { navigate } from "../lib/router";
import { templateText } from "../lib/templates";
import { FailureBox, FieldError, GeneralErrors, useSession } from "../ui";

type Batch = Schemas["CreateBatchRequest"];
const FIELDS = ["versions", "models", "parameter_sets", "cases", "assertions", "budget", "repetitions", "name"];
const DEFAULT_ASSERTIONS = '[\n  {"type": "max_latency_ms", "threshold": 5000}\n]';

export function BatchNew({ promptId }: { promptId: string | null }) {
  const t = useT();
  const { api } = useSession();
  const [prompt, setPrompt] = useState(promptId ?? "");
  const prompts = useLoad(async () => (await call(api.GET("/api/v1/prompts", { params: { query: { limit: 50 } } }))).data, [api]);
  const versions = useLoad(async () => {
    if (!prompt) return [];
    return (await call(api.GET("/api/v1/prompts/{prompt_id}/versions", { params: { path: { prompt_id: prompt }, query: { limit: 50 } } }))).data;
  }, [api, prompt]);
  const providers = useLoad(async () => {
    const { data } = await call(api.GET("/api/v1/providers"));
    return (Array.isArray(data) ? data : []) as Provider[];
  }, [api]);
  // The estimate's prices come from this list: while it cannot be read (a provider service
  // restarting, a timeout), every cell would show as unpriced, so it is shown and read again.
  const providersFailed = providers.failure !== null;
  useEffect(() => {
    if (!providersFailed) return;
    const timer = setTimeout(providers.reload, 2000);
    return () => clearTimeout(timer);
  }, [providersFailed, providers.reload]);
  const [picked, setPicked] = useState<string[]>([]);
  const [models, setModels] = useState("mock/echo");
  const [paramSets, setParamSets] = useState('[{"temperature": 0}]');
  const [casesText, setCasesText] = useState("");
  const [assertions, setAssertions] = useState(DEFAULT_ASSERTIONS);
  const [repetitions, setRepetitions] = useState(1);
  const [budget, setBudget] = useState("");
  const [name, setName] = useState("");
  const [errors, setErrors] = useState<FormErrors | null>(null);
  const [busy, setBusy] = useState(false);

  const parsed = useMemo(() => {
    const local: Record<string, string> = {};
    let cases: Case[] = [];
    try { cases = parseCases(casesText); } catch (e) { local["cases"] = e instanceof CaseParseError ? e.message : String(e); }
    let sets: Record<string, unknown>[] = [];
    try { const v: unknown = JSON.parse(paramSets || "[]"); if (!Array.isArray(v)) throw new Error(); sets = v as Record<string, unknown>[]; } catch { local["parameter_sets"] = t("batch.badJsonArray"); }
    let checks: unknown[] = [];
    try { const v: unknown = JSON.parse(assertions || "[]"); if (!Array.isArray(v)) throw new Error(); checks = v; } catch { local["assertions"] = t("batch.badJsonArray"); }
    const modelList = models.split(/[\n,]/).map((s) => s.trim()).filter(Boolean).map((s) => {
      const [provider, ...rest] = s.split("/");
      return { provider: provider ?? "", model_name: rest.join("/") };
    });
    if (modelList.some((m) => !m.provider || !m.model_name)) local["models"] = t("batch.badModels");
    return { cases, sets: sets.length ? sets : [{}], checks, modelList, local };
  }, [casesText, paramSets, assertions, models, t]);

  const chosen = (versions.data ?? []).filter((v) => picked.includes(v.id));
  const cells = chosen.flatMap((v) => parsed.modelList.flatMap((m) => parsed.sets.map((s) => ({
    promptChars: promptChars(templateText(v.template), parsed.cases),
    cases: parsed.cases.length,
    repetitions,
    maxTokens: typeof s["max_tokens"] === "number" ? (s["max_tokens"] as number) : null,
    pricing: pricingOf(providers.data ?? [], m.provider, m.model_name),
  }))));
  const calls = cells.length * parsed.cases.length * repetitions;
  const estimate = batchEstimate(cells);
  const localErrors: FormErrors = { fields: Object.fromEntries(Object.entries(parsed.local).map(([k, v]) => [k, [v]])), general: [] };
  const shown: FormErrors = errors ?? localErrors;
  const start = async () => {
    setBusy(true);
    setErrors(null);
    try {
      const { data } = await call(api.POST("/api/v1/batches", { body: {
        ...(name ? { name } : {}),
        versions: chosen.map((v) => ({ prompt_version_id: v.id })),
        models: parsed.modelList,
        parameter_sets: parsed.sets as Batch["parameter_sets"], // as typed; the API validates it
        cases: parsed.cases,
        assertions: parsed.checks as Batch["assertions"],
        repetitions,
        ...(budget.trim() ? { budget: budget.trim() } : {}),
      } }));
      const created = data as { id?: string; batch_id?: string };
      navigate(`/batches/${created.id ?? created.batch_id ?? ""}`);
    } catch (e) {
      const failure = asFailure(e);
      setErrors(failure.offline ? { fields: {}, general: [t("error.offline")] } : problemToFormErrors(failure.problem ?? { detail: failure.message, errors: [] }, FIELDS));
    } finally {
      setBusy(false);
    }
  };
  const blocked = Object.keys(parsed.local).length > 0 || chosen.length === 0 || parsed.cases.length === 0;
  return (
    <section>
      <h2>{t("batch.new")}</h2>
      {prompts.failure && <FailureBox failure={prompts.failure} retry={prompts.reload} />}
      {providers.failure && <FailureBox failure={providers.failure} retry={providers.reload} />}
      <GeneralErrors errors={errors} />
      <form className="editor" onSubmit={(e) => { e.preventDefault(); void start(); }}>
        <div className="grid2">
          <label>{t("runs.prompt")}
            <select value={prompt} data-testid="b-prompt" onChange={(e) => { setPrompt(e.target.value); setPicked([]); }}>
              <option value="">—</option>
              {prompts.data?.map((p) => <option key={p.id} value={p.id}>{p.name}</option>)}
              {promptId && !prompts.data?.some((p) => p.id === promptId) && <option value={promptId}>{promptId}</option>}
            </select>
          </label>
          <label>{t("batch.name")}<input value={name} onChange={(e) => setName(e.target.value)} /><FieldError errors={shown} name="name" /></label>
        </div>
        <fieldset>
          <legend>{t("batch.versions")}</legend>
          {versions.data?.map((v) => (
            <label key={v.id} className="inline">
              <input type="checkbox" data-testid={`b-version-${v.number}`} checked={picked.includes(v.id)} onChange={() => setPicked((p) => (p.includes(v.id) ? p.filter((x) => x !== v.id) : [...p, v.id]))} />
              v{v.number} {v.commit_message}
            </label>
          ))}
          <FieldError errors={shown} name="versions" />
        </fieldset>
        <div className="grid2">
          <label>{t("batch.models")}<textarea rows={3} data-testid="b-models" value={models} onChange={(e) => setModels(e.target.value)} /><FieldError errors={shown} name="models" /></label>
          <label>{t("batch.parameterSets")}<textarea rows={3} data-testid="b-params" value={paramSets} onChange={(e) => setParamSets(e.target.value)} /><FieldError errors={shown} name="parameter_sets" /></label>
        </div>
        <label>{t("batch.cases")} <span className="muted">({t("batch.casesHint")}{casesText.trim() ? ` · ${detectFormat(casesText).toUpperCase()} · ${parsed.cases.length}` : ""})</span>
          <textarea rows={6} data-testid="b-cases" value={casesText} onChange={(e) => setCasesText(e.target.value)} />
        </label>
        <input type="file" accept=".csv,.jsonl,.json,.txt" onChange={(e) => { const f = e.target.files?.[0]; if (f) void f.text().then(setCasesText); }} />
        <FieldError errors={shown} name="cases" />
        <label>{t("batch.assertions")}<textarea rows={4} data-testid="b-assertions" value={assertions} onChange={(e) => setAssertions(e.target.value)} /><FieldError errors={shown} name="assertions" /></label>
        <div className="grid2">
          <label>{t("batch.repetitions")}<input type="number" min={1} value={repetitions} onChange={(e) => setRepetitions(Math.max(1, Number(e.target.value) || 1))} /><FieldError errors={shown} name="repetitions" /></label>
          <label>{t("runs.budget")}<input data-testid="b-budget" placeholder="5.00" value={budget} onChange={(e) => setBudget(e.target.value)} /><FieldError errors={shown} name="budget" /></label>
        </div>
        <div className="estimate" data-testid="estimate">
          <div>{t("batch.cells", { n: cells.length })} · {t("batch.calls", { n: calls })}</div>
          <div>{t("runs.estimated")}: {Object.entries(estimate.totals).map(([c, v]) => `${v.toFixed(6)} ${c}`).join(" + ") || "—"}{estimate.unpriced ? ` (${t("batch.unpriced", { n: estimate.unpriced })})` : ""}</div>
          <div>{t("runs.budget")}: {budget.trim() || t("batch.noBudget")}</div>
        </div>
        <button type="submit" data-testid="start-batch" disabled={busy || blocked}>{t("batch.start")}</button>
      </form>
    </section>
  );
}
