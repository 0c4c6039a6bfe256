// What a batch will cost before it starts, the way run-orchestrator estimates it (domain/cost.py):
// prompt tokens ~ characters / 4, each call's output at its max_tokens (256 when unset), priced
// per million tokens. The orchestrator's own estimate is on each run once it is created.

export const CHARS_PER_TOKEN = 4;
export const DEFAULT_OUTPUT_TOKENS = 256;

export interface Pricing { input_per_million: string | number; output_per_million: string | number; currency?: string }
export interface Provider { name: string; kind?: string; models?: Record<string, { pricing?: Pricing | null } | null> }

/** The mock's price for a model MOCK_MODELS does not list: it costs nothing (registry.FREE). */
export const MOCK_FREE: Pricing = { input_per_million: 0, output_per_million: 0, currency: "USD" };

export function pricingOf(providers: readonly Provider[], provider: string, model: string): Pricing | null {
  const found = providers.find((p) => p.name === provider);
  const listed = found?.models?.[model]?.pricing ?? null;
  if (listed) return listed;
  return found?.kind === "mock" ? MOCK_FREE : null;
}

export interface CellPlan { promptChars: number; cases: number; repetitions: number; maxTokens: number | null; pricing: Pricing | null }

/** One cell's (version x model x parameter set) cost, or null when its model has no price. */
export function cellCost(plan: CellPlan): number | null {
  if (!plan.pricing) return null;
  const promptTokens = Math.ceil(plan.promptChars / CHARS_PER_TOKEN) * plan.repetitions;
  const outputTokens = (plan.maxTokens ?? DEFAULT_OUTPUT_TOKENS) * plan.cases * plan.repetitions;
  return (promptTokens * Number(plan.pricing.input_per_million) + outputTokens * Number(plan.pricing.output_per_million)) / 1_000_000;
}

/** The sum over cells, per currency; `unpriced` counts the cells whose model has no price. */
export function batchEstimate(cells: readonly CellPlan[]): { totals: Record<string, number>; unpriced: number } {
  const totals: Record<string, number> = {};
  let unpriced = 0;
  for (const cell of cells) {
    const cost = cellCost(cell);
    if (cost === null) { unpriced++; continue; }
    const currency = cell.pricing?.currency ?? "USD";
    totals[currency] = (totals[currency] ?? 0) + cost;
  }
  return { totals, unpriced };
}

/** Rough rendered size of a template over the cases: the template once per case plus the values. */
export function promptChars(template: string, cases: readonly Record<string, unknown>[]): number {
  let chars = 0;
  for (const c of cases) {
    chars += template.length;
    for (const v of Object.values(c)) chars += typeof v === "string" ? v.length : JSON.stringify(v).length;
  }
  return chars;
}
