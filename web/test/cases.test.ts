import { describe, expect, it } from "vitest";
import { CaseParseError, detectFormat, parseCases, parseCsv } from "../src/lib/cases";

describe("case parsing", () => {
  it("detects the format of a paste", () => {
    expect(detectFormat('  [{"a":1}]')).toBe("json");
    expect(detectFormat('{"a":1}\n{"a":2}')).toBe("jsonl");
    expect(detectFormat("a,b\n1,2")).toBe("csv");
  });

  it("reads a JSON array of objects", () => {
    expect(parseCases('[{"name":"Ada"},{"name":"Grace","n":2}]')).toEqual([{ name: "Ada" }, { name: "Grace", n: 2 }]);
  });

  it("rejects a JSON array holding a non-object, naming the item", () => {
    expect(() => parseCases('[{"a":1}, 3]')).toThrow(/line 2/);
    expect(() => parseCases('{"a":1}', "json")).toThrow(CaseParseError);
  });

  it("reads JSON Lines, skipping blank lines, and names a bad line", () => {
    expect(parseCases('{"a":1}\n\n{"a":2}\n')).toEqual([{ a: 1 }, { a: 2 }]);
    expect(() => parseCases('{"a":1}\n{oops}')).toThrow(/line 2: not a JSON object/);
  });

  it("reads CSV with quotes, commas, escaped quotes and newlines inside fields", () => {
    const text = 'name,text\r\nAda,"Hello, ""world"""\nGrace,"two\nlines"\n';
    expect(parseCsv(text)).toEqual([
      { name: "Ada", text: 'Hello, "world"' },
      { name: "Grace", text: "two\nlines" },
    ]);
  });

  it("names the CSV line whose columns do not match the header", () => {
    expect(() => parseCsv("a,b\n1,2\n3\n")).toThrow(/line 3: 1 values for 2 columns/);
    expect(() => parseCsv('a\n"open')).toThrow(/not closed/);
    expect(parseCases("   ")).toEqual([]);
  });
});
