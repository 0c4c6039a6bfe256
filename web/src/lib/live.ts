// Follows a run's or a batch's live stream, keeping the latest whole resource (each event carries
// it, ADR 0016), and reports a dropped connection so the screen can offer a retry.
import { useEffect, useState } from "react";
import { follow } from "./sse";

export function useLive<T>(path: string | null, apiKey: string, project: string | null, initial: T | null) {
  const [value, setValue] = useState<T | null>(initial);
  const [ended, setEnded] = useState(false);
  const [lost, setLost] = useState(false);
  const [attempt, setAttempt] = useState(0);
  useEffect(() => setValue(initial), [initial]);
  useEffect(() => {
    if (!path) return;
    const controller = new AbortController();
    setLost(false);
    setEnded(false);
    void follow({
      url: window.location.origin + path,
      headers: { Authorization: `Bearer ${apiKey}`, ...(project ? { "X-Project": project } : {}) },
      signal: controller.signal,
      onEvent: (event) => { try { setValue(JSON.parse(event.data) as T); } catch { /* a comment-like event */ } },
      onEnd: () => setEnded(true),
      onConnectionLost: () => setLost(true),
    });
    return () => controller.abort();
  }, [path, apiKey, project, attempt]);
  return { value, ended, lost, retry: () => setAttempt((n) => n + 1) };
}

export function progressOf(recorded: number, total: number): number {
  return total > 0 ? Math.min(1, recorded / total) : 0;
}
