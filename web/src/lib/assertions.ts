// The assertions editor: a skeleton of each common assertion type to insert, and the typed JSON
// parsed into an array (the API validates each assertion and names `assertions.<i>.<field>`).

export const ASSERTION_SKELETONS: Record<string, Record<string, unknown>> = {
  contains: { type: "contains", value: "" },
  icontains: { type: "icontains", value: "" },
  not_contains: { type: "not_contains", value: "" },
  equals: { type: "equals", value: "" },
  starts_with: { type: "starts_with", value: "" },
  regex: { type: "regex", pattern: "" },
  is_json: { type: "is_json" },
  similarity: { type: "similarity", threshold: 0.8 },
  max_latency_ms: { type: "max_latency_ms", threshold: 5000 },
  max_cost: { type: "max_cost", threshold: "0.01", currency: "USD" },
};

export type Parsed = { ok: true; value: unknown[] } | { ok: false };

export function parseAssertions(text: string): Parsed {
  try {
    const value: unknown = JSON.parse(text.trim() || "[]");
    return Array.isArray(value) ? { ok: true, value } : { ok: false };
  } catch {
    return { ok: false };
  }
}
