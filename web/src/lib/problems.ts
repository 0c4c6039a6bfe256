// Maps an API refusal (RFC 9457 problem details with `errors[].field`) onto a form's fields, so
// each message is shown next to the input it names; what names no field of the form stays general.
import type { Problem } from "@promptworks/client";

export interface FormErrors {
  /** form field -> messages about it */
  fields: Record<string, string[]>;
  /** messages that name no field of this form (shown above the form) */
  general: string[];
}

/** `field` as the API names it (`variables.0.name`) -> the form field it belongs to: the longest
 * of `formFields` that equals it or is a leading run of its dot-separated segments. */
export function formFieldOf(field: string | null | undefined, formFields: readonly string[]): string | null {
  if (!field) return null;
  const segments = field.split(".");
  let best: string | null = null;
  for (const candidate of formFields) {
    const parts = candidate.split(".");
    const leading = parts.length <= segments.length && parts.every((p, i) => p === segments[i]);
    if (leading && (best === null || parts.length > best.split(".").length)) best = candidate;
  }
  return best;
}

export function problemToFormErrors(problem: Partial<Problem> | null | undefined, formFields: readonly string[]): FormErrors {
  const out: FormErrors = { fields: {}, general: [] };
  if (!problem) return out;
  const items = problem.errors ?? [];
  for (const item of items) {
    const target = formFieldOf(item.field, formFields);
    if (target === null) {
      out.general.push(item.field ? `${item.field}: ${item.msg}` : item.msg);
    } else {
      (out.fields[target] ??= []).push(item.msg);
    }
  }
  if (items.length === 0) out.general.push(problem.detail || problem.title || `HTTP ${problem.status ?? "?"}`);
  return out;
}

/** Anything thrown or answered -> a Problem-like object; a fetch that never got an answer is
 * reported as `offline` (the screen then offers a retry instead of going blank). */
export interface Failure {
  offline: boolean;
  status: number;
  problem: Partial<Problem> | null;
  message: string;
}

export function failureOf(error: unknown, status = 0): Failure {
  if (error && typeof error === "object" && "errors" in error) {
    const problem = error as Partial<Problem>;
    return { offline: false, status: problem.status ?? status, problem, message: problem.detail || problem.title || `HTTP ${status}` };
  }
  if (error instanceof Error) return { offline: true, status: 0, problem: null, message: error.message };
  return { offline: status === 0, status, problem: null, message: String(error ?? `HTTP ${status}`) };
}
