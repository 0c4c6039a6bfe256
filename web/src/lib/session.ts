// The signed-in API key lives in sessionStorage: gone when the tab closes, never in a cookie the
// browser would send by itself, never in localStorage that outlives the session.
const KEY = "promptworks.apiKey";
const PROJECT = "promptworks.project";

export function storedKey(): string | null {
  return sessionStorage.getItem(KEY);
}

export function storeKey(key: string): void {
  sessionStorage.setItem(KEY, key.trim());
}

export function forgetKey(): void {
  sessionStorage.removeItem(KEY);
  sessionStorage.removeItem(PROJECT);
}

export function storedProject(): string | null {
  return sessionStorage.getItem(PROJECT);
}

export function storeProject(id: string | null): void {
  if (id) sessionStorage.setItem(PROJECT, id);
  else sessionStorage.removeItem(PROJECT);
}

/** `make dev` prints the console's URL with `#key=<admin key>`: the fragment never reaches a
 * server; it is taken into the session and removed from the address bar at once. */
export function takeKeyFromFragment(location: Location, history: History): void {
  const match = /(?:^#|&)key=([^&]+)/.exec(location.hash);
  if (!match) return;
  storeKey(decodeURIComponent(match[1]!));
  history.replaceState(history.state, "", location.pathname + location.search);
}
