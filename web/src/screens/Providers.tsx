// Providers and their models: kinds, where they come from, prices and limits (never a key).
import { useT } from "../i18n";
import { call } from "../lib/api";
import type { Provider } from "../lib/estimate";
import { useLoad } from "../lib/load";
import { FailureBox, Loading, useSession } from "../ui";

interface Listed extends Provider { source?: string; base_url?: string | null }
interface Spec { context_length?: number | null; pricing?: { input_per_million: string; output_per_million: string; currency?: string } | null; limits?: Record<string, number | null> | null }

export function Providers() {
  const t = useT();
  const { api } = useSession();
  const loaded = useLoad(async () => {
    const { data } = await call(api.GET("/api/v1/providers"));
    return (Array.isArray(data) ? data : []) as Listed[];
  }, [api]);
  if (loaded.failure) return <FailureBox failure={loaded.failure} retry={loaded.reload} />;
  if (!loaded.data) return <Loading />;
  return (
    <section>
      <h2>{t("providers.title")}</h2>
      <table data-testid="provider-table">
        <thead><tr><th>{t("prompts.name")}</th><th>{t("providers.kind")}</th><th>{t("providers.source")}</th><th>{t("runs.model")}</th><th>{t("providers.price")}</th><th>{t("providers.limits")}</th></tr></thead>
        <tbody>
          {loaded.data.flatMap((p) => {
            const models = Object.entries((p.models ?? {}) as Record<string, Spec | null>);
            const rows = models.length ? models : [["—", null] as [string, Spec | null]];
            return rows.map(([name, spec], i) => (
              <tr key={`${p.name}-${name}`}>
                <td>{i === 0 ? p.name : ""}</td><td>{i === 0 ? p.kind : ""}</td><td>{i === 0 ? p.source : ""}</td>
                <td>{name}</td>
                <td>{spec?.pricing ? `${spec.pricing.input_per_million} / ${spec.pricing.output_per_million} ${spec.pricing.currency ?? "USD"} ${t("providers.perMillion")}` : "—"}</td>
                <td>{spec?.limits ? Object.entries(spec.limits).filter(([, v]) => v !== null && v !== undefined).map(([k, v]) => `${k}: ${v}`).join(", ") || "—" : "—"}</td>
              </tr>
            ));
          })}
        </tbody>
      </table>
    </section>
  );
}
