// A new prompt or a new version: text or chat template, typed variables, and a live preview of
// the template being typed, rendered by the API with the sample values typed here.
import { useEffect, useState } from "react";
import type { Schemas } from "@promptworks/client";
import { useT } from "../i18n";
import { asFailure, call } from "../lib/api";
import { problemToFormErrors, type FormErrors } from "../lib/problems";
import { navigate } from "../lib/router";
import { templateText, textToMessages } from "../lib/templates";
import { FailureBox, FieldError, GeneralErrors, useSession } from "../ui";
import { useLoad } from "../lib/load";

type VarType = NonNullable<Schemas["VariableSpec"]["type"]>;
const TYPES: VarType[] = ["string", "number", "integer", "boolean", "enum", "json", "list"];
interface VarRow { name: string; type: VarType; required: boolean; default: string; sample: string }
const FIELDS = ["name", "description", "class_name", "tags", "content", "messages", "variables", "commit_message"];

export function VersionEditor({ promptId }: { promptId: string | null }) {
  const t = useT();
  const { api } = useSession();
  const base = useLoad(async () => {
    if (!promptId) return null;
    return (await call(api.GET("/api/v1/prompts/{prompt_id}", { params: { path: { prompt_id: promptId } } }))).data;
  }, [api, promptId]);
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [className, setClassName] = useState("");
  const [tags, setTags] = useState("");
  const [kind, setKind] = useState<"text" | "chat">("text");
  const [text, setText] = useState("");
  const [vars, setVars] = useState<VarRow[]>([]);
  const [message, setMessage] = useState("");
  const [errors, setErrors] = useState<FormErrors | null>(null);
  const [saving, setSaving] = useState(false);
  const current = base.data?.current_version ?? null;
  useEffect(() => {
    if (!current) return;
    setKind(current.template.kind);
    setText(templateText(current.template));
    setVars(current.variables.map((v) => ({ name: v.name, type: v.type ?? "string", required: v.required ?? true, default: v.default === undefined || v.default === null ? "" : JSON.stringify(v.default), sample: "" })));
  }, [current]);
  const preview = usePreview(kind, text, vars);
  const save = async () => {
    setSaving(true);
    setErrors(null);
    const variables = vars.filter((v) => v.name.trim()).map((v) => ({
      name: v.name.trim(), type: v.type, required: v.required,
      ...(v.default.trim() ? { default: parseLoose(v.default) } : {}),
    }));
    const template = kind === "text" ? { content: text } : { messages: textToMessages(text) };
    try {
      let target: string;
      if (promptId) {
        await call(api.POST("/api/v1/prompts/{prompt_id}/versions", { params: { path: { prompt_id: promptId } }, body: { ...template, variables, commit_message: message } }));
        target = promptId;
      } else {
        const tagList = tags.split(",").map((s) => s.trim()).filter(Boolean);
        await ensureTags(api, tagList);
        const { data } = await call(api.POST("/api/v1/prompts", { body: {
          name, description, ...template, variables, commit_message: message,
          ...(className.trim() ? { class_name: className.trim() } : {}),
          ...(tagList.length ? { tags: tagList } : {}),
        } }));
        const created = data as { id?: string; prompt_id?: string };
        target = created.id ?? created.prompt_id ?? "";
      }
      navigate(`/prompts/${target}`);
    } catch (e) {
      const failure = asFailure(e);
      setErrors(failure.offline ? { fields: {}, general: [t("error.offline")] } : problemToFormErrors(failure.problem ?? { detail: failure.message, errors: [] }, FIELDS));
    } finally {
      setSaving(false);
    }
  };
  if (base.failure) return <FailureBox failure={base.failure} retry={base.reload} />;
  const setVar = (i: number, patch: Partial<VarRow>) => setVars((vs) => vs.map((v, j) => (j === i ? { ...v, ...patch } : v)));
  return (
    <section>
      <h2>{promptId ? t("editor.newVersionOf", { name: base.data?.name ?? "…" }) : t("editor.newPrompt")}</h2>
      <GeneralErrors errors={errors} />
      <form className="editor" onSubmit={(e) => { e.preventDefault(); void save(); }}>
        {!promptId && (
          <div className="grid2">
            <label>{t("prompts.name")}<input data-testid="f-name" value={name} onChange={(e) => setName(e.target.value)} /><FieldError errors={errors} name="name" /></label>
            <label>{t("prompts.class")}<input data-testid="f-class" value={className} onChange={(e) => setClassName(e.target.value)} /><FieldError errors={errors} name="class_name" /></label>
            <label>{t("editor.description")}<input value={description} onChange={(e) => setDescription(e.target.value)} /><FieldError errors={errors} name="description" /></label>
            <label>{t("editor.tags")}<input data-testid="f-tags" value={tags} onChange={(e) => setTags(e.target.value)} /><FieldError errors={errors} name="tags" /></label>
          </div>
        )}
        <div className="editor-main">
          <div>
            <label>{t("editor.kind")}
              <select value={kind} data-testid="f-kind" onChange={(e) => setKind(e.target.value as "text" | "chat")}>
                <option value="text">{t("editor.kindText")}</option>
                <option value="chat">{t("editor.kindChat")}</option>
              </select>
            </label>
            <label>{t("prompt.template")}{kind === "chat" && <span className="muted"> {t("editor.chatHint")}</span>}
              <textarea data-testid="f-template" rows={12} value={text} onChange={(e) => setText(e.target.value)} />
            </label>
            <FieldError errors={errors} name="content" />
            <FieldError errors={errors} name="messages" />
            <h3>{t("editor.variables")}</h3>
            <table className="vars">
              <thead><tr><th>{t("prompts.name")}</th><th>{t("editor.type")}</th><th>{t("editor.required")}</th><th>{t("editor.default")}</th><th>{t("editor.sample")}</th><th /></tr></thead>
              <tbody>
                {vars.map((v, i) => (
                  <tr key={i}>
                    <td><input data-testid={`var-name-${i}`} value={v.name} onChange={(e) => setVar(i, { name: e.target.value })} /></td>
                    <td><select value={v.type} onChange={(e) => setVar(i, { type: e.target.value as VarType })}>{TYPES.map((x) => <option key={x}>{x}</option>)}</select></td>
                    <td><input type="checkbox" checked={v.required} onChange={(e) => setVar(i, { required: e.target.checked })} /></td>
                    <td><input value={v.default} onChange={(e) => setVar(i, { default: e.target.value })} /></td>
                    <td><input data-testid={`var-sample-${i}`} value={v.sample} onChange={(e) => setVar(i, { sample: e.target.value })} /></td>
                    <td><button type="button" onClick={() => setVars((vs) => vs.filter((_, j) => j !== i))}>✕</button></td>
                  </tr>
                ))}
              </tbody>
            </table>
            <FieldError errors={errors} name="variables" />
            <button type="button" data-testid="add-var" onClick={() => setVars((vs) => [...vs, { name: "", type: "string", required: true, default: "", sample: "" }])}>{t("editor.addVariable")}</button>
            <label>{t("prompt.message")}<input data-testid="f-message" value={message} onChange={(e) => setMessage(e.target.value)} /></label>
            <FieldError errors={errors} name="commit_message" />
            <button type="submit" data-testid="save" disabled={saving}>{t("action.save")}</button>
          </div>
          <aside className="preview" data-testid="preview">
            <h3>{t("editor.preview")}</h3>
            {!preview.data && !preview.failure && <p className="muted">{t("editor.previewEmpty")}</p>}
            {preview.failure && (preview.failure.problem?.errors?.length
              ? <ul className="field-error" data-testid="preview-error">{preview.failure.problem.errors.map((e, i) => <li key={i}><code>{e.field}</code> {e.msg}</li>)}</ul>
              : <FailureBox failure={preview.failure} />)}
            {preview.data && (
              <>
                <p className="muted">{t("editor.previewLive")}</p>
                {preview.data.kind === "text" ? <pre>{preview.data.text}</pre> : preview.data.messages?.map((m, i) => <pre key={i}><b>{m.role}</b>{"\n"}{m.content}</pre>)}
                {preview.data.missing.length > 0 && <p className="warn">{t("editor.missing")}: {preview.data.missing.join(", ")}</p>}
                {preview.data.unused.length > 0 && <p className="muted">{t("editor.unused")}: {preview.data.unused.join(", ")}</p>}
              </>
            )}
          </aside>
        </div>
      </form>
    </section>
  );
}

const TAG_COLORS = ["#1F77B4", "#2CA02C", "#D62728", "#9467BD", "#FF7F0E", "#17BECF"];

/** Tags are their own resources: the ones named here that do not exist yet are created first. */
async function ensureTags(api: ReturnType<typeof useSession>["api"], names: string[]): Promise<void> {
  if (names.length === 0) return;
  const existing = new Set((await call(api.GET("/api/v1/prompt-tags", { params: { query: { limit: 200 } } }))).data.items.map((g) => g.name));
  for (const name of names.filter((n) => !existing.has(n))) {
    await call(api.POST("/api/v1/prompt-tags", { body: { name, color: TAG_COLORS[name.length % TAG_COLORS.length]! } }));
  }
}

function parseLoose(value: string): unknown {
  try { return JSON.parse(value); } catch { return value; }
}

/** Renders the template being typed through the API (`POST /render`, the renderer runs use) as
 * the template, the declared variables or the sample values change; debounced, and an answer
 * that arrives after a newer edit is dropped. A refusal (template error, missing variable) is
 * shown in the preview with the field it names. */
function usePreview(kind: "text" | "chat", text: string, vars: VarRow[]) {
  const { api } = useSession();
  const [data, setData] = useState<Schemas["RenderPreviewOut"] | null>(null);
  const [failure, setFailure] = useState<ReturnType<typeof asFailure> | null>(null);
  const request = JSON.stringify({
    kind, text,
    declared: vars.filter((v) => v.name.trim()).map((v) => ({
      name: v.name.trim(), type: v.type, required: v.required,
      ...(v.default.trim() ? { default: parseLoose(v.default) } : {}),
    })),
    variables: Object.fromEntries(vars.filter((v) => v.name.trim() && v.sample !== "").map((v) => [v.name.trim(), v.sample])),
  });
  useEffect(() => {
    const { kind, text, declared, variables } = JSON.parse(request) as {
      kind: "text" | "chat"; text: string; declared: Schemas["VariableSpec"][]; variables: Record<string, unknown>;
    };
    if (!text.trim()) { setData(null); setFailure(null); return; }
    let live = true;
    const timer = setTimeout(() => {
      const template = kind === "text" ? { template: text } : { messages: textToMessages(text) };
      call(api.POST("/api/v1/render", { body: { ...template, declared, variables } })).then(
        ({ data }) => { if (live) { setData(data); setFailure(null); } },
        (e: unknown) => { if (live) { setData(null); setFailure(asFailure(e)); } },
      );
    }, 300);
    return () => { live = false; clearTimeout(timer); };
  }, [api, request]);
  return { data, failure };
}
