import { describe, expect, it } from "vitest";
import { MOCK_FREE, batchEstimate, cellCost, pricingOf, promptChars } from "../src/lib/estimate";
import { match } from "../src/lib/router";
import { pctDelta } from "../src/lib/format";
import { messagesToText, textToMessages } from "../src/lib/templates";

const pricing = { input_per_million: "3.00", output_per_million: "15.00", currency: "USD" };

describe("estimated cost", () => {
  it("prices prompt characters / 4 and max_tokens (256 unset) per call, as run-orchestrator does", () => {
    // 400 chars -> 100 prompt tokens; 2 cases x 256 output tokens; x 2 repetitions
    const cost = cellCost({ promptChars: 400, cases: 2, repetitions: 2, maxTokens: null, pricing });
    expect(cost).toBeCloseTo((200 * 3 + 1024 * 15) / 1e6, 12);
    expect(cellCost({ promptChars: 1, cases: 1, repetitions: 1, maxTokens: 10, pricing: null })).toBeNull();
  });

  it("sums cells per currency and counts the unpriced", () => {
    const cell = { promptChars: 4, cases: 1, repetitions: 1, maxTokens: 0, pricing };
    const out = batchEstimate([cell, cell, { ...cell, pricing: null }]);
    expect(out.unpriced).toBe(1);
    expect(out.totals["USD"]).toBeCloseTo(6 / 1e6, 12);
  });

  it("finds a model's price in the provider list", () => {
    const providers = [{ name: "mock", kind: "mock", models: { priced: { pricing } } }, { name: "acme", kind: "openai" }];
    expect(pricingOf(providers, "mock", "priced")).toEqual(pricing);
    expect(pricingOf(providers, "mock", "echo")).toEqual(MOCK_FREE); // the mock costs nothing
    expect(pricingOf(providers, "acme", "big")).toBeNull();
    expect(pricingOf(providers, "nowhere", "x")).toBeNull();
    expect(promptChars("Hi {{ n }}", [{ n: "Ada" }, { n: 7 }])).toBe(10 + 3 + 10 + 1);
  });
});

describe("routes and templates", () => {
  it("maps paths to screens", () => {
    expect(match("/", "").name).toBe("prompts");
    expect(match("/prompts/abc", "").params).toEqual({ id: "abc" });
    expect(match("/prompts/abc/diff", "?from=1&to=2").query.get("to")).toBe("2");
    expect(match("/runs/r1/compare", "?baseline=r0").name).toBe("compare");
    expect(match("/nope/x", "").name).toBe("not-found");
  });

  it("round-trips chat messages through the editor's text", () => {
    const messages = [{ role: "system" as const, content: "Be brief." }, { role: "user" as const, content: "Hi {{ name }}\nthere" }];
    expect(textToMessages(messagesToText(messages))).toEqual(messages);
  });
});

describe("formats", () => {
  it("writes pass-rate changes as signed percentage points", () => {
    expect(pctDelta(0.125)).toBe("+12.5 pp");
    expect(pctDelta(-0.5)).toBe("−50.0 pp");
    expect(pctDelta(0)).toBe("±0.0 pp");
    expect(pctDelta(null)).toBe("—");
  });
});
