// Live progress (ADR 0016) over server-sent events. EventSource cannot send the API key, so the
// stream is read with fetch and parsed here; it resumes with Last-Event-ID after a dropped
// connection and stops on the `end` event or a 204 (the stream already ended).

export interface SseEvent {
  id: string | null;
  event: string;
  data: string;
}

/** Splits a text chunk stream into events (the WHATWG event-stream rules that matter here). */
export class SseParser {
  private buffer = "";
  private data: string[] = [];
  private event = "";
  private id: string | null = null;

  push(chunk: string): SseEvent[] {
    this.buffer += chunk;
    const out: SseEvent[] = [];
    let nl: number;
    while ((nl = this.buffer.search(/\r\n|\r|\n/)) >= 0) {
      const line = this.buffer.slice(0, nl);
      const width = this.buffer.startsWith("\r\n", nl) ? 2 : 1;
      this.buffer = this.buffer.slice(nl + width);
      if (line === "") {
        if (this.data.length > 0 || this.event) {
          out.push({ id: this.id, event: this.event || "message", data: this.data.join("\n") });
        }
        this.data = [];
        this.event = "";
        continue;
      }
      if (line.startsWith(":")) continue; // heartbeat comment
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "data") this.data.push(value);
      else if (field === "event") this.event = value;
      else if (field === "id") this.id = value;
    }
    return out;
  }
}

export interface FollowOptions {
  url: string;
  headers: Record<string, string>;
  onEvent: (event: SseEvent) => void;
  onEnd: () => void;
  onConnectionLost: (error: unknown) => void;
  signal: AbortSignal;
  retryDelayMs?: number;
  maxRetries?: number;
}

export async function follow(options: FollowOptions): Promise<void> {
  const { url, headers, onEvent, onEnd, onConnectionLost, signal } = options;
  let lastId: string | null = null;
  let failures = 0;
  while (!signal.aborted) {
    try {
      const response: Response = await fetch(url, {
        headers: { ...headers, Accept: "text/event-stream", ...(lastId ? { "Last-Event-ID": lastId } : {}) },
        signal,
      });
      if (response.status === 204) return onEnd();
      if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
      failures = 0;
      const parser = new SseParser();
      const reader: ReadableStreamDefaultReader<string> = response.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const chunk: ReadableStreamReadResult<string> = await reader.read();
        if (chunk.done) break;
        const value: string = chunk.value;
        for (const event of parser.push(value) as SseEvent[]) {
          if (event.id) lastId = event.id;
          if (event.event === "end") return onEnd();
          onEvent(event);
        }
      }
    } catch (error) {
      if (signal.aborted) return;
      failures++;
      if (failures > (options.maxRetries ?? 5)) return onConnectionLost(error);
    }
    await new Promise((r) => setTimeout(r, options.retryDelayMs ?? 1000));
  }
}
