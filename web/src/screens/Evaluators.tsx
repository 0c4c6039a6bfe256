// Evaluators: named, versioned sets of assertions (search, cursor paging); one's latest version
// and its change history; create one, or add a version, with the assertions editor.
import { useEffect, useState } from "react";
import type { Schemas } from "@promptworks/client";
import { useT } from "../i18n";
import { asFailure, call, nextCursor, type Problem } from "../lib/api";
import { ASSERTION_SKELETONS, parseAssertions } from "../lib/assertions";
import { useLoad } from "../lib/load";
import { problemToFormErrors, type FormErrors } from "../lib/problems";
import { FailureBox, FieldError, GeneralErrors, Loading, useSession, when, CursorPager } from "../ui";

export function Evaluators() {
  const t = useT();
  const { api } = useSession();
  const [typed, setTyped] = useState("");
  const [q, setQ] = useState("");
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const [open, setOpen] = useState<string | null>(null);
  const [creating, setCreating] = useState(false);
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
      <div className="filters">
        <input placeholder={t("prompts.search")} value={typed} onChange={(e) => setTyped(e.target.value)} />
        <button type="button" data-testid="new-evaluator" onClick={() => setCreating(true)}>{t("evaluators.new")}</button>
      </div>
      {creating && (
        <EvaluatorForm evaluatorId={null} initial="" onCancel={() => setCreating(false)}
          onDone={(created) => { setCreating(false); page.reload(); setOpen(created.id); }} />
      )}
      {page.failure && <FailureBox failure={page.failure} retry={page.reload} />}
      {!page.data && !page.failure && <Loading />}
      {page.data && (
        <>
          <table data-testid="evaluator-table">
            <thead><tr><th>{t("prompts.name")}</th><th>{t("editor.description")}</th><th>{t("evaluators.version")}</th><th>{t("common.author")}</th><th>{t("common.updated")}</th></tr></thead>
            <tbody>
              {page.data.items.map((e) => (
                <tr key={e.id} data-testid={`evaluator-${e.name}`}>
                  <td><button className="link" data-testid={`open-evaluator-${e.name}`} onClick={() => setOpen(open === e.id ? null : e.id)}>{e.name}</button></td>
                  <td>{e.description}</td><td>v{e.latest_version}</td><td>{e.created_by}</td><td>{when(e.updated_at)}</td>
                </tr>
              ))}
              {page.data.items.length === 0 && <tr><td colSpan={5} className="muted">{t("common.empty")}</td></tr>}
            </tbody>
          </table>
          <CursorPager cursors={cursors} setCursors={setCursors} next={page.data.next} />
        </>
      )}
      {open && <EvaluatorDetail id={open} onChanged={page.reload} />}
    </section>
  );
}

function EvaluatorDetail({ id, onChanged }: { id: string; onChanged: () => void }) {
  const t = useT();
  const { api } = useSession();
  const [adding, setAdding] = useState(false);
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
    <div className="preview" data-testid="evaluator-detail">
      <h3>{evaluator.name} · v{evaluator.latest_version}</h3>
      <pre className="snippet-full">{JSON.stringify(evaluator.latest?.assertions ?? [], null, 2)}</pre>
      {adding
        ? <EvaluatorForm evaluatorId={id} initial={JSON.stringify(evaluator.latest?.assertions ?? [], null, 2)}
            onCancel={() => setAdding(false)} onDone={() => { setAdding(false); loaded.reload(); onChanged(); }} />
        : <button type="button" data-testid="add-evaluator-version" onClick={() => setAdding(true)}>{t("evaluators.addVersion")}</button>}
      <h3>{t("prompt.history")}</h3>
      <table>
        <thead><tr><th>{t("common.when")}</th><th>{t("prompt.actor")}</th><th>{t("prompt.event")}</th><th>{t("prompt.summary")}</th></tr></thead>
        <tbody>{(Array.isArray(history) ? history : []).map((h) => <tr key={h.stream_version}><td>{when(h.at)}</td><td>{h.actor}</td><td>{h.kind}{h.version ? ` v${h.version}` : ""}</td><td>{h.message}</td></tr>)}</tbody>
      </table>
    </div>
  );
}

const FIELDS = ["name", "description", "assertions", "message"];

/** A new evaluator (name, description, assertions) or a new version of one (assertions). The
 * assertions are edited as JSON, with a skeleton of each type to insert; the API's refusal is
 * shown next to the field it names, `assertions.<i>...` with its path. */
function EvaluatorForm({ evaluatorId, initial, onDone, onCancel }: {
  evaluatorId: string | null; initial: string; onDone: (evaluator: Schemas["EvaluatorOut"]) => void; onCancel: () => void;
}) {
  const t = useT();
  const { api } = useSession();
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [assertions, setAssertions] = useState(initial || "[]");
  const [message, setMessage] = useState("");
  const [errors, setErrors] = useState<FormErrors | null>(null);
  const [problem, setProblem] = useState<Partial<Problem> | null>(null);
  const [busy, setBusy] = useState(false);
  const insert = (type: string) => {
    const skeleton = ASSERTION_SKELETONS[type];
    if (!skeleton) return;
    const parsed = parseAssertions(assertions);
    setAssertions(JSON.stringify([...(parsed.ok ? parsed.value : []), skeleton], null, 2));
  };
  const save = async () => {
    setErrors(null); setProblem(null);
    const parsed = parseAssertions(assertions);
    if (!parsed.ok) { setErrors({ fields: { assertions: [t("batch.badJsonArray")] }, general: [] }); return; }
    setBusy(true);
    try {
      const body = { assertions: parsed.value as Schemas["CreateEvaluatorRequest"]["assertions"], message };
      const { data } = evaluatorId
        ? await call(api.POST("/api/v1/evaluators/{evaluator_id}/versions", { params: { path: { evaluator_id: evaluatorId } }, body }))
        : await call(api.POST("/api/v1/evaluators", { body: { ...body, name, description } }));
      onDone(data);
    } catch (e) {
      const failure = asFailure(e);
      setProblem(failure.problem);
      setErrors(failure.offline ? { fields: {}, general: [t("error.offline")] } : problemToFormErrors(failure.problem ?? { detail: failure.message, errors: [] }, FIELDS.filter((f) => f !== "assertions")));
    } finally {
      setBusy(false);
    }
  };
  const assertionErrors = (problem?.errors ?? []).filter((e) => e.field === "assertions" || e.field?.startsWith("assertions."));
  const general = errors && { ...errors, general: errors.general.filter((m) => !m.startsWith("assertions")) };
  return (
    <form className="editor" data-testid="evaluator-form" onSubmit={(e) => { e.preventDefault(); void save(); }}>
      <h3>{evaluatorId ? t("evaluators.addVersion") : t("evaluators.new")}</h3>
      <GeneralErrors errors={general} />
      {!evaluatorId && (
        <div className="grid2">
          <label>{t("prompts.name")}<input data-testid="ev-name" value={name} onChange={(e) => setName(e.target.value)} /><FieldError errors={errors} name="name" /></label>
          <label>{t("editor.description")}<input data-testid="ev-description" value={description} onChange={(e) => setDescription(e.target.value)} /><FieldError errors={errors} name="description" /></label>
        </div>
      )}
      <label>{t("batch.assertions")}
        <select data-testid="ev-insert" value="" onChange={(e) => insert(e.target.value)}>
          <option value="">{t("evaluators.insert")}</option>
          {Object.keys(ASSERTION_SKELETONS).map((type) => <option key={type} value={type}>{type}</option>)}
        </select>
        <textarea data-testid="ev-assertions" rows={8} value={assertions} onChange={(e) => setAssertions(e.target.value)} />
      </label>
      <FieldError errors={errors} name="assertions" />
      {assertionErrors.length > 0 && (
        <div className="field-error" data-field-error="assertions">{assertionErrors.map((e, i) => <div key={i}><code>{e.field}</code> {e.msg}</div>)}</div>
      )}
      <label>{t("prompt.message")}<input data-testid="ev-message" value={message} onChange={(e) => setMessage(e.target.value)} /><FieldError errors={errors} name="message" /></label>
      <button type="submit" data-testid="ev-save" disabled={busy}>{t("action.save")}</button>{" "}
      <button type="button" onClick={onCancel}>{t("action.cancel")}</button>
    </form>
  );
}
