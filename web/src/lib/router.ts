// A small history-API router: the console's few routes do not need a library. query-api answers
// index.html for these paths, so a reload or a shared link lands on the same screen.
import { useEffect, useState } from "react";

export interface Route {
  name: string;
  params: Record<string, string>;
  query: URLSearchParams;
}

const PATTERNS: [string, RegExp][] = [
  ["prompts", /^\/(?:prompts\/?)?$/],
  ["prompt-new", /^\/prompts\/new$/],
  ["prompt", /^\/prompts\/(?<id>[^/]+)$/],
  ["version-new", /^\/prompts\/(?<id>[^/]+)\/versions\/new$/],
  ["diff", /^\/prompts\/(?<id>[^/]+)\/diff$/],
  ["runs", /^\/runs\/?$/],
  ["batch-new", /^\/batches\/new$/],
  ["batch", /^\/batches\/(?<id>[^/]+)$/],
  ["run", /^\/runs\/(?<id>[^/]+)$/],
  ["compare", /^\/runs\/(?<id>[^/]+)\/compare$/],
  ["usage", /^\/usage\/?$/],
  ["quick-test", /^\/quick-test\/?$/],
  ["providers", /^\/providers\/?$/],
  ["keys", /^\/keys\/?$/],
];

export function match(pathname: string, search: string): Route {
  for (const [name, re] of PATTERNS) {
    const m = re.exec(pathname);
    if (m) return { name, params: { ...(m.groups ?? {}) }, query: new URLSearchParams(search) };
  }
  return { name: "not-found", params: {}, query: new URLSearchParams(search) };
}

export function navigate(to: string): void {
  window.history.pushState(null, "", to);
  window.dispatchEvent(new PopStateEvent("popstate"));
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => match(window.location.pathname, window.location.search));
  useEffect(() => {
    const update = () => setRoute(match(window.location.pathname, window.location.search));
    window.addEventListener("popstate", update);
    return () => window.removeEventListener("popstate", update);
  }, []);
  return route;
}
