import { describe, expect, it } from "vitest";
import { diffStats, sideBySide, splitLines } from "../src/lib/diff";

describe("sideBySide", () => {
  it("keeps equal lines side by side", () => {
    const rows = sideBySide("a\nb", "a\nb");
    expect(rows.map((r) => r.kind)).toEqual(["same", "same"]);
    expect(rows[1]).toMatchObject({ left: "b", right: "b", leftNo: 2, rightNo: 2 });
  });

  it("pairs a replaced line as changed and numbers both sides", () => {
    const rows = sideBySide("Hello {{ name }}\nBye", "Hi {{ name }}!\nBye");
    expect(rows[0]).toEqual({ kind: "changed", left: "Hello {{ name }}", right: "Hi {{ name }}!", leftNo: 1, rightNo: 1 });
    expect(rows[1]!.kind).toBe("same");
  });

  it("shows insertions and deletions on their own side only", () => {
    const rows = sideBySide("one\ntwo\nthree", "zero\none\nthree\nfour");
    expect(rows.map((r) => [r.kind, r.left, r.right])).toEqual([
      ["added", null, "zero"],
      ["same", "one", "one"],
      ["removed", "two", null],
      ["same", "three", "three"],
      ["added", null, "four"],
    ]);
    expect(diffStats(rows)).toEqual({ added: 2, removed: 1, changed: 0 });
  });

  it("handles empty texts and CRLF", () => {
    expect(sideBySide("", "")).toEqual([]);
    expect(sideBySide("", "x").map((r) => r.kind)).toEqual(["added"]);
    expect(splitLines("a\r\nb")).toEqual(["a", "b"]);
  });

  it("uneven replacement runs pair what they can", () => {
    const rows = sideBySide("a\nx\ny\nb", "a\nz\nb");
    expect(rows.map((r) => r.kind)).toEqual(["same", "changed", "removed", "same"]);
  });
});
