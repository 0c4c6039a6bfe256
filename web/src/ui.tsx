// Shared pieces of every screen: the session's client, failures with a retry, field messages.
import { createContext, useContext, type Dispatch, type ReactNode, type SetStateAction } from "react";
import type { PromptWorksClient } from "@promptworks/client";
import { useT } from "./i18n";
import type { Failure, FormErrors } from "./lib/problems";
import { navigate } from "./lib/router";

export interface SessionState {
  api: PromptWorksClient;
  apiKey: string;
  project: string | null;
}

export const Session = createContext<SessionState | null>(null);

export function useSession(): SessionState {
  const session = useContext(Session);
  if (!session) throw new Error("no session");
  return session;
}

/** A failed load or action: the API's message, or "connection lost" with a retry button. */
export function FailureBox({ failure, retry }: { failure: Failure; retry?: () => void }) {
  const t = useT();
  return (
    <div className="failure" role="alert" data-testid="failure">
      <strong>{failure.offline ? t("error.offline") : t("error.refused", { status: failure.status })}</strong>
      {!failure.offline && <span> {failure.message}</span>}
      {failure.problem?.errors?.map((e, i) => (
        <div key={i} className="muted">{e.field ? `${e.field}: ` : ""}{e.msg}</div>
      ))}
      {retry && <button onClick={retry} data-testid="retry">{t("action.retry")}</button>}
    </div>
  );
}

export function FieldError({ errors, name }: { errors: FormErrors | null; name: string }) {
  const messages = errors?.fields[name];
  if (!messages?.length) return null;
  return <div className="field-error" data-field-error={name}>{messages.join("; ")}</div>;
}

export function GeneralErrors({ errors }: { errors: FormErrors | null }) {
  if (!errors?.general.length) return null;
  return <div className="failure" role="alert">{errors.general.map((m, i) => <div key={i}>{m}</div>)}</div>;
}

export function Link({ to, children, className, testId }: { to: string; children: ReactNode; className?: string; testId?: string }) {
  return (
    <a
      href={to}
      className={className}
      data-testid={testId}
      onClick={(e) => {
        if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey) return;
        e.preventDefault();
        navigate(to);
      }}
    >
      {children}
    </a>
  );
}

export function Loading() {
  const t = useT();
  return <div className="muted">{t("common.loading")}</div>;
}

export function when(iso: string | null | undefined): string {
  return iso ? new Date(iso).toLocaleString() : "—";
}

export function money(m: { amount: string; currency: string } | null | undefined): string {
  return m ? `${m.amount} ${m.currency}` : "—";
}

export function pct(x: number | null | undefined): string {
  return x === null || x === undefined ? "—" : `${(x * 100).toFixed(1)}%`;
}

/** Previous / next over cursor pages. `cursors` is the start of every page seen (null: the
 * first), so going back needs no cursor from the server. */
export function CursorPager({ cursors, setCursors, next, total }: {
  cursors: (string | null)[];
  setCursors: Dispatch<SetStateAction<(string | null)[]>>;
  next: string | null | undefined;
  total?: number | null;
}) {
  const t = useT();
  return (
    <div className="pager">
      <button disabled={cursors.length <= 1} onClick={() => setCursors((c) => c.slice(0, -1))}>{t("common.prev")}</button>
      <span className="muted">{t("common.page", { n: cursors.length })}{total != null ? ` · ${t("common.total", { n: total })}` : ""}</span>
      <button disabled={!next} data-testid="next-page" onClick={() => setCursors((c) => [...c, next ?? null])}>{t("common.next")}</button>
    </div>
  );
}
