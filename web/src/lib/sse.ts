// Live progress (ADR 0016) over server-sent events. EventSource cannot send the API key, so the
// stream is opened through the generated client (`parseAs: "stream"`) and parsed here; it
// resumes with Last-Event-ID after a dropped connection and stops on `end` or a 204.

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

/** Opens the stream (resuming after `lastId`): the answer's status and its body. */
export type Connect = (lastId: string | null, signal: AbortSignal) => Promise<{ status: number; body: ReadableStream<BufferSource> | null }>;

export interface FollowOptions {
  connect: Connect;
  onEvent: (event: SseEvent) => void;
  onEnd: () => void;
  onConnectionLost: (error: unknown) => void;
  signal: AbortSignal;
  retryDelayMs?: number;
  maxRetries?: number;
}

/** Reads a stream's events until `end` (or a 204: it ended before), reconnecting with the last
 * event id when the connection drops; gives up after `maxRetries` failures in a row. */
export async function follow(options: FollowOptions): Promise<void> {
  const { connect, onEvent, onEnd, onConnectionLost, signal } = options;
  let lastId: string | null = null;
  let failures = 0;
  while (!signal.aborted) {
    try {
      const { status, body } = await connect(lastId, signal);
      if (status === 204) return onEnd();
      if (status < 200 || status >= 300 || !body) throw new Error(`HTTP ${status}`);
      failures = 0;
      for await (const event of readEvents(body)) {
        if (event.id) lastId = event.id;
        if (event.event === "end") return onEnd();
        onEvent(event);
      }
    } catch (error) {
      if (signal.aborted) return;
      failures++;
      if (failures > (options.maxRetries ?? 5)) return onConnectionLost(error);
    }
    await new Promise((r) => setTimeout(r, options.retryDelayMs ?? 1000));
  }
}

/** The events of one response body, as they arrive. */
export async function* readEvents(body: ReadableStream<BufferSource>): AsyncGenerator<SseEvent> {
  const parser = new SseParser();
  const reader: ReadableStreamDefaultReader<string> = body.pipeThrough(new TextDecoderStream()).getReader();
  for (;;) {
    const chunk: ReadableStreamReadResult<string> = await reader.read();
    if (chunk.done) return;
    for (const event of parser.push(chunk.value) as SseEvent[]) yield event;
  }
}
