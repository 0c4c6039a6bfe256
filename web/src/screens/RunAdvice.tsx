// Optimisation advice on a finished run (ADR 0024): ask a judge model, follow the request until
// it is given or failed, read each section and the revised template, and save the revision as
// a new version of the run's prompt in one call.
import { useEffect, useState } from "react";
import type { Schemas } from "@promptworks/client";
import { useT } from "../i18n";
import { asFailure, call } from "../lib/api";
import { useLoad } from "../lib/load";
import type { Failure } from "../lib/problems";
import { navigate } from "../lib/router";
import { FailureBox, money, useSession, when } from "../ui";

type Advice = Schemas["AdviceOut"];

export function RunAdvice({ runId }: { runId: string }) {
  const t = useT();
  const { api } = useSession();
  const [provider, setProvider] = useState("mock");
  const [model, setModel] = useState("judge");
  const [focus, setFocus] = useState("");
  const [failure, setFailure] = useState<Failure | null>(null);
  const [busy, setBusy] = useState(false);
  const listed = useLoad(async () => (await call(api.GET("/api/v1/test_prompt/{run_id}/advice", { params: { path: { run_id: runId }, query: { limit: 5 } } }))).data, [api, runId]);
  const pending = listed.data?.some((a) => a.status === "requested") ?? false;
  useEffect(() => {
    if (!pending) return;
    const timer = setTimeout(() => listed.reload(), 1000);
    return () => clearTimeout(timer);
  }, [pending, listed]);
  const ask = async () => {
    setFailure(null); setBusy(true);
    try {
      await call(api.POST("/api/v1/test_prompt/{run_id}/advice", { params: { path: { run_id: runId } }, body: { provider, model, ...(focus ? { focus } : {}) } }));
      listed.reload();
    } catch (e) { setFailure(asFailure(e)); } finally { setBusy(false); }
  };
  const apply = async (advice: Advice) => {
    setFailure(null); setBusy(true);
    try {
      const { data } = await call(api.POST("/api/v1/test_prompt/{run_id}/advice/{advice_id}/apply", { params: { path: { run_id: runId, advice_id: advice.id } }, body: {} }));
      navigate(`/prompts/${data.id}`);
    } catch (e) { setFailure(asFailure(e)); } finally { setBusy(false); }
  };
  return (
    <section data-testid="advice">
      <h3>{t("advice.title")}</h3>
      <div className="filters">
        <input value={provider} onChange={(e) => setProvider(e.target.value)} placeholder={t("advice.provider")} data-testid="advice-provider" />
        <input value={model} onChange={(e) => setModel(e.target.value)} placeholder={t("advice.model")} data-testid="advice-model" />
        <input value={focus} onChange={(e) => setFocus(e.target.value)} placeholder={t("advice.focus")} />
        <button disabled={busy || !provider || !model} onClick={() => void ask()} data-testid="advice-ask">{t("advice.ask")}</button>
      </div>
      {failure && <FailureBox failure={failure} />}
      {listed.failure && <FailureBox failure={listed.failure} retry={listed.reload} />}
      {listed.data?.map((advice) => <AdviceCard key={advice.id} advice={advice} busy={busy} apply={apply} />)}
    </section>
  );
}

function AdviceCard({ advice, busy, apply }: { advice: Advice; busy: boolean; apply: (a: Advice) => Promise<void> }) {
  const t = useT();
  const head = `${advice.model.provider}/${advice.model.name} · ${when(advice.requested_at)} · ${t(`advice.${advice.status}`)}`;
  if (advice.status !== "given" || !advice.advice) {
    return <div className="card"><p className="muted">{head}</p>{advice.error && <p className="warn">{advice.error}</p>}</div>;
  }
  const body = advice.advice;
  const revision = body.prompt_revision;
  const saved = advice.saved_versions ?? [];
  const template = revision.kind === "text" ? revision.text : revision.messages.map((m) => `[${m.role}] ${m.content}`).join("\n\n");
  const sections: [string, string][] = [
    [t("advice.overall"), body.overall_advice],
    [t("advice.parameters"), body.parameter_advice],
    [t("advice.models"), body.model_advice],
    [t("advice.plan"), body.validation_plan],
  ];
  return (
    <div className="card" data-testid="advice-given">
      <p className="muted">{head} · {money(advice.cost ? { amount: advice.cost.amount, currency: advice.cost.currency ?? "USD" } : null)}</p>
      {sections.map(([title, text]) => <div key={title}><h4>{title}</h4><p>{text}</p></div>)}
      <h4>{t("advice.revision")}</h4>
      <pre className="snippet">{template}</pre>
      {body.revision_rationale && <p className="muted">{body.revision_rationale}</p>}
      {saved.length > 0
        ? <p>{t("advice.saved", { n: saved.map((v) => `v${v.number}`).join(", ") })}</p>
        : <button disabled={busy} onClick={() => void apply(advice)} data-testid="advice-apply">{t("advice.apply")}</button>}
    </div>
  );
}
