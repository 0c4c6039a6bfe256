// Providers and their models: kinds, where they come from, prices and limits (never a key); the
// catalog's providers are registered, changed and removed here (credential by reference only).
import { useState } from "react";
import { useT } from "../i18n";
import { asFailure, call, type Problem } from "../lib/api";
import type { Provider } from "../lib/estimate";
import { useLoad } from "../lib/load";
import { problemToFormErrors, type FormErrors } from "../lib/problems";
import { modelsBody, modelRows, type ModelRow } from "../lib/providers";
import { FailureBox, FieldError, GeneralErrors, Loading, useSession } from "../ui";

interface Listed extends Provider { source?: string; base_url?: string | null; credential?: { source: string; name?: string | null } | null }
interface Spec { context_length?: number | null; pricing?: { input_per_million: string; output_per_million: string; currency?: string } | null; limits?: Record<string, number | null> | null }
interface Preset { name: string; kind: string; base_url: string; models: string[]; credential_env: string | null }

const FIELDS = ["name", "preset", "kind", "base_url", "api_key_env", "models"];
const EMPTY_MODEL: ModelRow = { name: "", context: "", input: "", output: "", rpm: "", tpm: "" };

export function Providers() {
  const t = useT();
  const { api } = useSession();
  const loaded = useLoad(async () => {
    const [providers, presets] = await Promise.all([call(api.GET("/api/v1/providers")), call(api.GET("/api/v1/provider-presets"))]);
    return {
      providers: (Array.isArray(providers.data) ? providers.data : []) as Listed[],
      presets: (Array.isArray(presets.data) ? presets.data : []) as Preset[],
    };
  }, [api]);
  const [editing, setEditing] = useState<string | null>(null); // null: registering a new one
  const [name, setName] = useState("");
  const [preset, setPreset] = useState("");
  const [kind, setKind] = useState<"openai" | "anthropic">("openai");
  const [baseUrl, setBaseUrl] = useState("");
  const [keyEnv, setKeyEnv] = useState("");
  const [models, setModels] = useState<ModelRow[]>([{ ...EMPTY_MODEL }]);
  const [errors, setErrors] = useState<FormErrors | null>(null);
  const [problem, setProblem] = useState<Partial<Problem> | null>(null);
  const [confirming, setConfirming] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const reset = () => {
    setEditing(null); setName(""); setPreset(""); setKind("openai"); setBaseUrl(""); setKeyEnv("");
    setModels([{ ...EMPTY_MODEL }]); setErrors(null); setProblem(null);
  };
  const edit = (p: Listed) => {
    reset();
    setEditing(p.name); setName(p.name); setKind(p.kind === "anthropic" ? "anthropic" : "openai");
    setBaseUrl(p.base_url ?? ""); setKeyEnv(p.credential?.source === "env" ? p.credential.name ?? "" : "");
    const rows = modelRows((p.models ?? {}) as Record<string, Spec | null>);
    setModels(rows.length ? rows : [{ ...EMPTY_MODEL }]);
  };
  const attempt = async (write: () => Promise<unknown>) => {
    setBusy(true); setErrors(null); setProblem(null);
    try {
      await write();
      reset();
      loaded.reload();
    } catch (e) {
      const failure = asFailure(e);
      setProblem(failure.problem);
      setErrors(failure.offline ? { fields: {}, general: [t("error.offline")] } : problemToFormErrors(failure.problem ?? { detail: failure.message, errors: [] }, FIELDS));
    } finally {
      setBusy(false);
    }
  };
  const save = () => attempt(async () => {
    const credential = keyEnv.trim() ? { api_key_env: keyEnv.trim() } : {};
    const body = { ...(baseUrl.trim() ? { base_url: baseUrl.trim() } : {}), ...credential, models: modelsBody(models) };
    if (editing) {
      await call(api.PATCH("/api/v1/providers/{name}", { params: { path: { name: editing } }, body: body as never }));
    } else {
      await call(api.POST("/api/v1/providers", { body: { name: name.trim(), ...(preset ? { preset } : { kind }), ...body } as never }));
    }
  });
  const remove = (target: string) => attempt(async () => {
    await call(api.DELETE("/api/v1/providers/{name}", { params: { path: { name: target } } }));
    setConfirming(null);
  });

  if (loaded.failure) return <FailureBox failure={loaded.failure} retry={loaded.reload} />;
  if (!loaded.data) return <Loading />;
  const setModel = (i: number, patch: Partial<ModelRow>) => setModels((ms) => ms.map((m, j) => (j === i ? { ...m, ...patch } : m)));
  const modelErrors = (problem?.errors ?? []).filter((e) => e.field === "models" || e.field?.startsWith("models."));
  return (
    <section>
      <h2>{t("providers.title")}</h2>
      <table data-testid="provider-table">
        <thead><tr><th>{t("prompts.name")}</th><th>{t("providers.kind")}</th><th>{t("providers.source")}</th><th>{t("runs.model")}</th><th>{t("providers.price")}</th><th>{t("providers.limits")}</th><th /></tr></thead>
        <tbody>
          {loaded.data.providers.flatMap((p) => {
            const models = Object.entries((p.models ?? {}) as Record<string, Spec | null>);
            const rows = models.length ? models : [["—", null] as [string, Spec | null]];
            return rows.map(([name, spec], i) => (
              <tr key={`${p.name}-${name}`} data-testid={i === 0 ? `provider-${p.name}` : undefined}>
                <td>{i === 0 ? p.name : ""}</td><td>{i === 0 ? p.kind : ""}</td><td>{i === 0 ? p.source : ""}</td>
                <td>{name}</td>
                <td>{spec?.pricing ? `${spec.pricing.input_per_million} / ${spec.pricing.output_per_million} ${spec.pricing.currency ?? "USD"} ${t("providers.perMillion")}` : "—"}</td>
                <td>{spec?.limits ? Object.entries(spec.limits).filter(([, v]) => v !== null && v !== undefined).map(([k, v]) => `${k}: ${v}`).join(", ") || "—" : "—"}</td>
                <td>{i === 0 && p.source === "catalog" && (
                  <>
                    <button type="button" data-testid={`edit-${p.name}`} onClick={() => edit(p)}>{t("providers.change")}</button>{" "}
                    {confirming === p.name
                      ? <button type="button" className="danger" data-testid={`confirm-remove-${p.name}`} disabled={busy} onClick={() => void remove(p.name)}>{t("providers.confirmRemove")}</button>
                      : <button type="button" data-testid={`remove-${p.name}`} onClick={() => setConfirming(p.name)}>{t("providers.remove")}</button>}
                  </>
                )}</td>
              </tr>
            ));
          })}
        </tbody>
      </table>

      <h3>{editing ? t("providers.changeTitle", { name: editing }) : t("providers.register")}</h3>
      <GeneralErrors errors={errors} />
      <form className="editor" onSubmit={(e) => { e.preventDefault(); void save(); }}>
        <div className="grid2">
          <label>{t("prompts.name")}<input data-testid="pv-name" value={name} disabled={!!editing} onChange={(e) => setName(e.target.value)} /><FieldError errors={errors} name="name" /></label>
          <label>{t("providers.preset")}
            <select data-testid="pv-preset" value={preset} disabled={!!editing} onChange={(e) => {
              setPreset(e.target.value);
              const chosen = loaded.data?.presets.find((x) => x.name === e.target.value);
              if (chosen && !keyEnv) setKeyEnv(chosen.credential_env ?? "");
            }}>
              <option value="">{t("providers.noPreset")}</option>
              {loaded.data.presets.map((x) => <option key={x.name} value={x.name}>{x.name} ({x.base_url})</option>)}
            </select>
            <FieldError errors={errors} name="preset" />
          </label>
          <label>{t("providers.kind")}
            <select data-testid="pv-kind" value={kind} disabled={!!editing || !!preset} onChange={(e) => setKind(e.target.value as "openai" | "anthropic")}>
              <option value="openai">openai</option><option value="anthropic">anthropic</option>
            </select>
            <FieldError errors={errors} name="kind" />
          </label>
          <label>{t("providers.baseUrl")}<input data-testid="pv-base-url" value={baseUrl} placeholder={preset ? t("providers.fromPreset") : "https://…/v1"} onChange={(e) => setBaseUrl(e.target.value)} /><FieldError errors={errors} name="base_url" /></label>
          <label>{t("providers.keyEnv")}<input data-testid="pv-key-env" value={keyEnv} placeholder="OPENAI_API_KEY" onChange={(e) => setKeyEnv(e.target.value)} /><FieldError errors={errors} name="api_key_env" /></label>
        </div>
        <h4>{t("providers.models")}</h4>
        <table className="vars">
          <thead><tr><th>{t("runs.model")}</th><th>{t("providers.context")}</th><th>{t("providers.inputPrice")}</th><th>{t("providers.outputPrice")}</th><th>RPM</th><th>TPM</th><th /></tr></thead>
          <tbody>
            {models.map((m, i) => (
              <tr key={i}>
                <td><input data-testid={`pm-name-${i}`} value={m.name} onChange={(e) => setModel(i, { name: e.target.value })} /></td>
                <td><input data-testid={`pm-context-${i}`} value={m.context} onChange={(e) => setModel(i, { context: e.target.value })} /></td>
                <td><input data-testid={`pm-input-${i}`} value={m.input} onChange={(e) => setModel(i, { input: e.target.value })} /></td>
                <td><input data-testid={`pm-output-${i}`} value={m.output} onChange={(e) => setModel(i, { output: e.target.value })} /></td>
                <td><input data-testid={`pm-rpm-${i}`} value={m.rpm} onChange={(e) => setModel(i, { rpm: e.target.value })} /></td>
                <td><input data-testid={`pm-tpm-${i}`} value={m.tpm} onChange={(e) => setModel(i, { tpm: e.target.value })} /></td>
                <td><button type="button" onClick={() => setModels((ms) => ms.filter((_, j) => j !== i))}>✕</button></td>
              </tr>
            ))}
          </tbody>
        </table>
        {modelErrors.length > 0 && (
          <div className="field-error" data-field-error="models">{modelErrors.map((e, i) => <div key={i}><code>{e.field}</code> {e.msg}</div>)}</div>
        )}
        <button type="button" data-testid="pm-add" onClick={() => setModels((ms) => [...ms, { ...EMPTY_MODEL }])}>{t("providers.addModel")}</button>{" "}
        <button type="submit" data-testid="pv-save" disabled={busy}>{editing ? t("action.save") : t("providers.registerButton")}</button>{" "}
        {editing && <button type="button" onClick={reset}>{t("action.cancel")}</button>}
      </form>
    </section>
  );
}
