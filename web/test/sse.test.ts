import { describe, expect, it } from "vitest";
import { SseParser, follow } from "../src/lib/sse";

describe("SseParser", () => {
  it("assembles events across chunk boundaries, with ids and names", () => {
    const p = new SseParser();
    expect(p.push('id: 4\nevent: progress\ndata: {"a":')).toEqual([]);
    expect(p.push('1}\n\n: heartbeat\n\nid: 6\nevent: end\ndata: {}\n\n')).toEqual([
      { id: "4", event: "progress", data: '{"a":1}' },
      { id: "6", event: "end", data: "{}" },
    ]);
  });

  it("joins multi-line data and accepts CRLF", () => {
    const p = new SseParser();
    expect(p.push("data: a\r\ndata: b\r\n\r\n")).toEqual([{ id: null, event: "message", data: "a\nb" }]);
  });
});

function body(...chunks: string[]): ReadableStream<BufferSource> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const c of chunks) controller.enqueue(encoder.encode(c));
      controller.close();
    },
  });
}

describe("follow", () => {
  it("resumes after a dropped connection with the last event id, and stops on end", async () => {
    const asked: (string | null)[] = [];
    const answers = [
      { status: 200, body: body('id: 2\ndata: {"n":1}\n\n') }, // drops without `end`
      { status: 200, body: body('id: 4\ndata: {"n":2}\n\nid: 5\nevent: end\ndata: {}\n\n') },
    ];
    const seen: string[] = [];
    let ended = false;
    await follow({
      connect: async (lastId) => { asked.push(lastId); return answers.shift()!; },
      onEvent: (e) => seen.push(e.data),
      onEnd: () => { ended = true; },
      onConnectionLost: () => { throw new Error("not lost"); },
      signal: new AbortController().signal,
      retryDelayMs: 1,
    });
    expect(asked).toEqual([null, "2"]);
    expect(seen).toEqual(['{"n":1}', '{"n":2}']);
    expect(ended).toBe(true);
  });

  it("ends on a 204 and reports a connection lost after its retries", async () => {
    let ended = false;
    await follow({ connect: async () => ({ status: 204, body: null }), onEvent: () => undefined, onEnd: () => { ended = true; }, onConnectionLost: () => undefined, signal: new AbortController().signal });
    expect(ended).toBe(true);
    let lost: unknown = null;
    let tries = 0;
    await follow({
      connect: async () => { tries++; throw new TypeError("Failed to fetch"); },
      onEvent: () => undefined, onEnd: () => undefined, onConnectionLost: (e) => { lost = e; },
      signal: new AbortController().signal, retryDelayMs: 1, maxRetries: 2,
    });
    expect(tries).toBe(3);
    expect(lost).toBeInstanceOf(TypeError);
  });
});
