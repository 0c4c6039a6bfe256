import { describe, expect, it } from "vitest";
import { ASSERTION_SKELETONS, parseAssertions } from "../src/lib/assertions";
import { modelRows, modelsBody } from "../src/lib/providers";

describe("provider model table", () => {
  it("sends numbers as numbers, prices as exact strings, and skips blank rows", () => {
    const body = modelsBody([
      { name: " gpt-x ", context: "8000", input: "1.25", output: "", rpm: "60", tpm: "" },
      { name: "", context: "1", input: "", output: "", rpm: "", tpm: "" },
      { name: "bare", context: "", input: "", output: "", rpm: "", tpm: "" },
    ]);
    expect(body).toEqual({
      "gpt-x": { context_length: 8000, pricing: { input_per_million: "1.25", output_per_million: "0" }, limits: { requests_per_minute: 60 } },
      bare: {},
    });
  });

  it("sends text that is not a number as typed, so the API names the field", () => {
    const body = modelsBody([{ name: "m", context: "lots", input: "", output: "", rpm: "1.5", tpm: "" }]);
    expect(body).toEqual({ m: { context_length: "lots", limits: { requests_per_minute: "1.5" } } });
  });

  it("reads the catalog's models back into rows", () => {
    const rows = modelRows({ m: { context_length: 8000, pricing: { input_per_million: "1.25", output_per_million: "3" }, limits: { requests_per_minute: null } }, n: null });
    expect(rows).toEqual([
      { name: "m", context: "8000", input: "1.25", output: "3", rpm: "", tpm: "" },
      { name: "n", context: "", input: "", output: "", rpm: "", tpm: "" },
    ]);
    expect(modelsBody(rows)).toEqual({ m: { context_length: 8000, pricing: { input_per_million: "1.25", output_per_million: "3" } }, n: {} });
  });
});

describe("assertions editor", () => {
  it("parses an array, refuses anything else", () => {
    expect(parseAssertions(' [{"type": "is_json"}] ')).toEqual({ ok: true, value: [{ type: "is_json" }] });
    expect(parseAssertions("")).toEqual({ ok: true, value: [] });
    expect(parseAssertions('{"type": "is_json"}')).toEqual({ ok: false });
    expect(parseAssertions("[{")).toEqual({ ok: false });
  });

  it("has a skeleton of each type named by its own type", () => {
    for (const [type, skeleton] of Object.entries(ASSERTION_SKELETONS)) expect(skeleton.type).toBe(type);
  });
});
