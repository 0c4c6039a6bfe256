// Two message catalogs (English, Chinese) with the same keys: the Chinese one is typed against
// the English one, so a missing translation fails `tsc`.
import { createContext, useContext } from "react";
import { en, type MessageKey } from "./en";
import { zh } from "./zh";

export type Lang = "en" | "zh";
export const CATALOGS: Record<Lang, Record<MessageKey, string>> = { en, zh };
export type { MessageKey };

export type Translate = (key: MessageKey, params?: Record<string, string | number>) => string;

export function translator(lang: Lang): Translate {
  const catalog = CATALOGS[lang];
  return (key, params) =>
    catalog[key].replace(/\{(\w+)\}/g, (whole, name: string) =>
      params && name in params ? String(params[name]) : whole,
    );
}

const LANG_KEY = "promptworks.lang";

export function initialLang(stored: string | null, browser: readonly string[]): Lang {
  if (stored === "en" || stored === "zh") return stored;
  return browser.some((l) => l.toLowerCase().startsWith("zh")) ? "zh" : "en";
}

export function loadLang(): Lang {
  return initialLang(localStorage.getItem(LANG_KEY), navigator.languages ?? [navigator.language]);
}

export function saveLang(lang: Lang): void {
  localStorage.setItem(LANG_KEY, lang);
}

export const I18n = createContext<{ lang: Lang; t: Translate; setLang: (l: Lang) => void }>({
  lang: "en",
  t: translator("en"),
  setLang: () => undefined,
});

export function useT(): Translate {
  return useContext(I18n).t;
}
