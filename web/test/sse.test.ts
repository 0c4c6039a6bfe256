import { describe, expect, it } from "vitest";
import { SseParser } from "../src/lib/sse";

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
