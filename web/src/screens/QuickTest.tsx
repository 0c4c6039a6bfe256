// Quick test: one prompt version on one model, the answer streamed as it is generated
// (`POST /quick-test` with `stream`: `delta` events, then `done` with the recorded call), and
// the project's quick-test history (`GET /quick-tests`).
import { useEffect, useState } from "react";
import { useT } from "../i18n";
import { asFailure, call } from "../lib/api";
import { useLoad } from "../lib/load";
import { problemToFormErrors, type FormErrors } from "../lib/problems";
import { readEvents } from "../lib/sse";
import { FailureBox, FieldError, GeneralErrors, money, useSession, when } from "../ui";

const HISTORY = 20;
const SEEN_TRIES = 20; // the history is read from the projection: it shows a call moments later

const FIELDS = ["prompt_id", "provider", "model_name", "variables", "temperature", "max_tokens", "label"];

export function QuickTest() {
  const t = useT();
  const { api } = useSession();
  const prompts = useLoad(async () => (await call(api.GET("/api/v1/prompts", { params: { query: { limit: 50 } } }))).data, [api]);
  const [prompt, setPrompt] = useState("");
  const [label, setLabel] = useState("");
  const [model, setModel] = useState("mock/echo");
  const [variables, setVariables] = useState("{}");
  const [temperature, setTemperature] = useState("");
  const [output, setOutput] = useState("");
  const [record, setRecord] = useState<Record<string, unknown> | null>(null);
  const [errors, setErrors] = useState<FormErrors | null>(null);
  const [busy, setBusy] = useState(false);
  const history = useLoad(async () => (await call(api.GET("/api/v1/quick-tests", { params: { query: { limit: HISTORY } } }))).data, [api]);
  const { reload } = history;
  const latest = history.data?.[0]?.id;
  const made = typeof record?.["quick_test_id"] === "string" ? record["quick_test_id"] : null;
  const [tries, setTries] = useState(0);
  useEffect(() => {
    // Read the history again until it shows the call just made.
    if (!made || latest === made || tries >= SEEN_TRIES || history.loading) return;
    const timer = setTimeout(() => { setTries((n) => n + 1); reload(); }, 300);
    return () => clearTimeout(timer);
  }, [made, latest, tries, history.loading, reload]);
  const start = async () => {
    setErrors(null); setOutput(""); setRecord(null); setTries(0);
    let vars: Record<string, unknown>;
    try { vars = JSON.parse(variables || "{}") as Record<string, unknown>; }
    catch { setErrors({ fields: { variables: [t("quick.badJson")] }, general: [] }); return; }
    const [provider, ...rest] = model.split("/");
    setBusy(true);
    try {
      const { data } = await call(api.POST("/api/v1/quick-test", {
        body: {
          prompt_id: prompt || null, provider: provider ?? "", model_name: rest.join("/"), variables: vars, stream: true,
          label: label.trim() || "latest", // a prompt's version is chosen by label; latest by default
          ...(temperature.trim() ? { temperature: Number(temperature) } : {}),
        },
        parseAs: "stream",
      }));
      const stream = data as unknown as ReadableStream<BufferSource> | null;
      if (!stream) return;
      for await (const event of readEvents(stream)) {
        const body = JSON.parse(event.data) as Record<string, unknown>;
        if (event.event === "delta") setOutput((o) => o + String(body["text"] ?? ""));
        else if (event.event === "done") setRecord(body);
        else if (event.event === "error") setErrors({ fields: {}, general: [String(body["detail"] ?? body["message"] ?? event.data)] });
      }
    } catch (e) {
      const failure = asFailure(e);
      setErrors(failure.offline ? { fields: {}, general: [t("error.offline")] } : problemToFormErrors(failure.problem ?? { detail: failure.message, errors: [] }, FIELDS));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section>
      <h2>{t("quick.title")}</h2>
      <GeneralErrors errors={errors} />
      <form className="editor" onSubmit={(e) => { e.preventDefault(); void start(); }}>
        <div className="grid2">
          <label>{t("runs.prompt")}
            <select value={prompt} data-testid="q-prompt" onChange={(e) => setPrompt(e.target.value)}>
              <option value="">—</option>
              {prompts.data?.map((p) => <option key={p.id} value={p.id}>{p.name}</option>)}
            </select>
            <FieldError errors={errors} name="prompt_id" />
          </label>
          <label>{t("prompts.label")}<input value={label} placeholder="latest" onChange={(e) => setLabel(e.target.value)} /><FieldError errors={errors} name="label" /></label>
          <label>{t("runs.model")}<input data-testid="q-model" value={model} onChange={(e) => setModel(e.target.value)} /><FieldError errors={errors} name="provider" /><FieldError errors={errors} name="model_name" /></label>
          <label>{t("quick.temperature")}<input value={temperature} onChange={(e) => setTemperature(e.target.value)} /><FieldError errors={errors} name="temperature" /></label>
        </div>
        <label>{t("editor.variables")} (JSON)<textarea rows={3} data-testid="q-variables" value={variables} onChange={(e) => setVariables(e.target.value)} /></label>
        <FieldError errors={errors} name="variables" />
        <button type="submit" data-testid="q-run" disabled={busy || !prompt}>{t("quick.run")}</button>
      </form>
      <h3>{t("results.output")}</h3>
      <pre className="preview" data-testid="q-output">{output || (busy ? "…" : "")}</pre>
      {record && <pre className="snippet" data-testid="q-record">{JSON.stringify({ usage: record["usage"], cost: record["cost"], latency_ms: record["latency_ms"] }, null, 2)}</pre>}
      <h3>{t("quick.history")}</h3>
      {history.failure && <FailureBox failure={history.failure} retry={reload} />}
      <table data-testid="q-history">
        <thead><tr><th>{t("quick.when")}</th><th>{t("runs.model")}</th><th>{t("results.output")}</th><th>{t("results.tokens")}</th><th>{t("results.latency")}</th><th>{t("runs.cost")}</th></tr></thead>
        <tbody>
          {history.data?.map((q) => (
            <tr key={q.id} data-testid={`q-history-${q.id}`}>
              <td>{when(q.created_at)}</td>
              <td>{q.provider}/{q.model_name}</td>
              <td className={q.error ? "field-error" : undefined}>{q.error ?? q.output}</td>
              <td>{q.usage.total_tokens}</td>
              <td>{Math.round(q.latency_ms)} ms</td>
              <td>{money(q.cost)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {history.data?.length === 0 && <p className="muted">{t("common.empty")}</p>}
    </section>
  );
}
