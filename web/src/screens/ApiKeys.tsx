// API keys (admin): list, create (the secret is shown once), revoke.
import { useState } from "react";
import type { Schemas } from "@promptworks/client";
import { useT } from "../i18n";
import { asFailure, call } from "../lib/api";
import { useLoad } from "../lib/load";
import { problemToFormErrors, type Failure, type FormErrors } from "../lib/problems";
import { FailureBox, FieldError, GeneralErrors, Loading, useSession, when } from "../ui";

type Scope = Schemas["CreateApiKeyRequest"]["scopes"][number];
const SCOPES: Scope[] = ["read", "prompts:write", "runs:write", "providers:admin", "admin"];
const FIELDS = ["name", "scopes", "owner", "expires_at"];

export function ApiKeys() {
  const t = useT();
  const { api } = useSession();
  const loaded = useLoad(async () => (await call(api.GET("/api/v1/api-keys", { params: { query: { limit: 100 } } }))).data.items, [api]);
  const [name, setName] = useState("");
  const [owner, setOwner] = useState("");
  const [scopes, setScopes] = useState<Scope[]>(["read"]);
  const [errors, setErrors] = useState<FormErrors | null>(null);
  const [secret, setSecret] = useState<string | null>(null);
  const [actionFailure, setActionFailure] = useState<Failure | null>(null);
  const create = async () => {
    setErrors(null); setSecret(null);
    try {
      const { data } = await call(api.POST("/api/v1/api-keys", { body: { name, scopes, ...(owner.trim() ? { owner: owner.trim() } : {}) } }));
      setSecret(data.secret); setName(""); loaded.reload();
    } catch (e) {
      const f = asFailure(e);
      setErrors(f.offline ? { fields: {}, general: [t("error.offline")] } : problemToFormErrors(f.problem ?? { detail: f.message, errors: [] }, FIELDS));
    }
  };
  const revoke = async (id: string) => {
    setActionFailure(null);
    try { await call(api.DELETE("/api/v1/api-keys/{key_id}", { params: { path: { key_id: id } } })); loaded.reload(); }
    catch (e) { setActionFailure(asFailure(e)); }
  };
  return (
    <section>
      <h2>{t("keys.title")}</h2>
      <GeneralErrors errors={errors} />
      <form className="filters" onSubmit={(e) => { e.preventDefault(); void create(); }}>
        <label>{t("prompts.name")}<input data-testid="k-name" value={name} onChange={(e) => setName(e.target.value)} /><FieldError errors={errors} name="name" /></label>
        <label>{t("keys.owner")}<input value={owner} onChange={(e) => setOwner(e.target.value)} /><FieldError errors={errors} name="owner" /></label>
        {SCOPES.map((s) => (
          <label key={s} className="inline"><input type="checkbox" checked={scopes.includes(s)} onChange={() => setScopes((c) => (c.includes(s) ? c.filter((x) => x !== s) : [...c, s]))} /> {s}</label>
        ))}
        <FieldError errors={errors} name="scopes" />
        <button type="submit" data-testid="k-create">{t("keys.create")}</button>
      </form>
      {secret && <div className="estimate" data-testid="k-secret">{t("keys.secretOnce")} <code>{secret}</code></div>}
      {actionFailure && <FailureBox failure={actionFailure} />}
      {loaded.failure && <FailureBox failure={loaded.failure} retry={loaded.reload} />}
      {!loaded.data && !loaded.failure && <Loading />}
      {loaded.data && (
        <table data-testid="key-table">
          <thead><tr><th>{t("prompts.name")}</th><th>{t("keys.prefix")}</th><th>{t("keys.owner")}</th><th>{t("keys.scopes")}</th><th>{t("common.created")}</th><th>{t("keys.revoked")}</th><th /></tr></thead>
          <tbody>
            {loaded.data.map((k) => (
              <tr key={k.id}>
                <td>{k.name}</td><td><code>{k.prefix}…</code></td><td>{k.owner}</td><td>{k.scopes.join(", ")}</td>
                <td>{when(k.created_at)} · {k.created_by}</td>
                <td>{k.revoked_at ? `${when(k.revoked_at)} · ${k.revoked_by ?? ""}` : "—"}</td>
                <td>{!k.revoked_at && <button onClick={() => void revoke(k.id)}>{t("keys.revoke")}</button>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
