import { describe, expect, it } from "vitest";
import { CATALOGS, initialLang, translator } from "../src/i18n";

describe("i18n", () => {
  it("has the same keys in both catalogs, none empty", () => {
    const en = Object.keys(CATALOGS.en).sort();
    expect(Object.keys(CATALOGS.zh).sort()).toEqual(en);
    for (const lang of ["en", "zh"] as const) {
      for (const [key, text] of Object.entries(CATALOGS[lang])) expect(text.trim(), `${lang} ${key}`).not.toBe("");
    }
  });

  it("keeps the placeholders of each message in the translation", () => {
    const names = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
    for (const [key, text] of Object.entries(CATALOGS.en)) {
      expect(names(CATALOGS.zh[key as keyof typeof CATALOGS.en]), key).toEqual(names(text));
    }
  });

  it("fills placeholders and switches language", () => {
    expect(translator("en")("common.page", { n: 3 })).toBe("Page 3");
    expect(translator("zh")("common.page", { n: 3 })).toBe("第 3 页");
    expect(translator("en")("diff.stats", { changed: 1, added: 2, removed: 0 })).toBe("1 changed, 2 added, 0 removed lines");
  });

  it("starts in the stored language, else the browser's", () => {
    expect(initialLang("zh", ["en-US"])).toBe("zh");
    expect(initialLang(null, ["zh-CN", "en"])).toBe("zh");
    expect(initialLang("fr", ["en-GB"])).toBe("en");
  });
});
