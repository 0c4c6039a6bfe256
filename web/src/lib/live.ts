// Follows a run's or a batch's live stream through the generated client, keeping the latest
// whole resource (each event carries it, ADR 0016), and reports a dropped connection so the
// screen can offer a retry.
import { useEffect, useState } from "react";
import type { PromptWorksClient } from "@promptworks/client";
import { follow, type Connect } from "./sse";

export type LiveTarget = { run: string } | { batch: string };

function connector(api: PromptWorksClient, target: LiveTarget): Connect {
  return async (lastId, signal) => {
    const headers = { Accept: "text/event-stream", ...(lastId ? { "Last-Event-ID": lastId } : {}) };
    const answer = "run" in target
      ? await api.GET("/api/v1/test_prompt/{run_id}/events", { params: { path: { run_id: target.run } }, headers, signal, parseAs: "stream" })
      : await api.GET("/api/v1/batches/{batch_id}/events", { params: { path: { batch_id: target.batch } }, headers, signal, parseAs: "stream" });
    return { status: answer.response.status, body: (answer.data ?? null) as ReadableStream<BufferSource> | null };
  };
}

export function useLive<T>(api: PromptWorksClient, target: LiveTarget | null, initial: T | null) {
  const [value, setValue] = useState<T | null>(initial);
  const [ended, setEnded] = useState(false);
  const [lost, setLost] = useState(false);
  const [attempt, setAttempt] = useState(0);
  const key = target ? JSON.stringify(target) : null;
  useEffect(() => setValue(initial), [initial]);
  useEffect(() => {
    if (!key) return;
    const controller = new AbortController();
    setLost(false);
    setEnded(false);
    void follow({
      connect: connector(api, JSON.parse(key) as LiveTarget),
      signal: controller.signal,
      onEvent: (event) => { try { setValue(JSON.parse(event.data) as T); } catch { /* not a resource */ } },
      onEnd: () => setEnded(true),
      onConnectionLost: () => setLost(true),
    });
    return () => controller.abort();
  }, [api, key, attempt]);
  return { value, ended, lost, retry: () => setAttempt((n) => n + 1) };
}

export function progressOf(recorded: number, total: number): number {
  return total > 0 ? Math.min(1, recorded / total) : 0;
}
