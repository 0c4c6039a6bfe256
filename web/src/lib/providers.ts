// The provider form's model table <-> the catalog's `models` (name -> context, pricing, limits).
// Numbers typed as text are sent as numbers; text that is not a number is sent as typed, so the
// API's refusal names the exact field (`models.<name>.limits.requests_per_minute`).

export interface ModelRow { name: string; context: string; input: string; output: string; rpm: string; tpm: string }

interface Spec { context_length?: number | null; pricing?: { input_per_million: string | number; output_per_million: string | number } | null; limits?: Record<string, number | null> | null }

function integer(text: string): number | string {
  const trimmed = text.trim();
  return /^\d+$/.test(trimmed) ? Number(trimmed) : trimmed;
}

export function modelsBody(rows: readonly ModelRow[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const row of rows) {
    const name = row.name.trim();
    if (!name) continue;
    const spec: Record<string, unknown> = {};
    if (row.context.trim()) spec.context_length = integer(row.context);
    if (row.input.trim() || row.output.trim()) {
      // Prices stay strings: the API keeps money as exact decimals.
      spec.pricing = { input_per_million: row.input.trim() || "0", output_per_million: row.output.trim() || "0" };
    }
    const limits: Record<string, unknown> = {};
    if (row.rpm.trim()) limits.requests_per_minute = integer(row.rpm);
    if (row.tpm.trim()) limits.tokens_per_minute = integer(row.tpm);
    if (Object.keys(limits).length) spec.limits = limits;
    out[name] = spec;
  }
  return out;
}

export function modelRows(models: Record<string, Spec | null>): ModelRow[] {
  const text = (v: unknown) => (v === null || v === undefined ? "" : String(v));
  return Object.entries(models).map(([name, spec]) => ({
    name,
    context: text(spec?.context_length),
    input: text(spec?.pricing?.input_per_million),
    output: text(spec?.pricing?.output_per_million),
    rpm: text(spec?.limits?.requests_per_minute),
    tpm: text(spec?.limits?.tokens_per_minute),
  }));
}
