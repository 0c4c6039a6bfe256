// The one way the console talks to PromptWorks: the generated client (clients/typescript), with
// the session's key as Bearer and the chosen project as X-Project. Screens get typed answers.
import { promptWorksClient, type PromptWorksClient, type Problem } from "@promptworks/client";
import { failureOf, type Failure } from "./problems";

export const PROJECT_HEADER = "X-Project";

export function apiClient(apiKey: string, project: string | null): PromptWorksClient {
  const headers: Record<string, string> = project ? { [PROJECT_HEADER]: project } : {};
  return promptWorksClient(window.location.origin, apiKey, { headers });
}

export interface Answer<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** Unwraps an openapi-fetch call: the data, or a thrown Failure (refusal or lost connection). */
export async function call<T>(request: Promise<Answer<T>>): Promise<{ data: T; response: Response }> {
  let answer: Answer<T>;
  try {
    answer = await request;
  } catch (e) {
    throw failureOf(e); // no answer at all: offline, DNS, a reset connection
  }
  if (answer.error !== undefined || !answer.response.ok) {
    throw failureOf(answer.error ?? null, answer.response.status);
  }
  return { data: answer.data as T, response: answer.response };
}

export function isFailure(e: unknown): e is Failure {
  return !!e && typeof e === "object" && "offline" in e && "status" in e;
}

export function asFailure(e: unknown): Failure {
  return isFailure(e) ? e : failureOf(e);
}

export type { Problem };

/** The next page's cursor (`X-Next-Cursor`), absent on the last page. */
export function nextCursor(response: Response): string | null {
  return response.headers.get("X-Next-Cursor");
}

export function totalCount(response: Response): number | null {
  const v = response.headers.get("X-Total-Count");
  return v === null ? null : Number(v);
}
