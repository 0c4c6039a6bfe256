// Number formats shared by the screens (kept out of components so they are unit-tested).

/** A pass-rate change as signed percentage points: 0.125 -> "+12.5 pp". */
export function pctDelta(x: number | null | undefined): string {
  if (x === null || x === undefined || Number.isNaN(x)) return "—";
  const points = x * 100;
  return `${points > 0 ? "+" : points < 0 ? "−" : "±"}${Math.abs(points).toFixed(1)} pp`;
}
