// A line diff of two templates laid out side by side (left: the older version, right: the newer).
// Longest common subsequence over lines: templates are short (a few hundred lines at most), so the
// quadratic table is cheap and the output is the minimal edit a reader expects.

export type RowKind = "same" | "changed" | "removed" | "added";

export interface DiffRow {
  kind: RowKind;
  left: string | null;
  right: string | null;
  leftNo: number | null;
  rightNo: number | null;
}

export function splitLines(text: string): string[] {
  if (text === "") return [];
  return text.replace(/\r\n/g, "\n").split("\n");
}

type Op = { op: "same" | "del" | "add"; a: number; b: number };

function lcsOps(a: string[], b: string[]): Op[] {
  const n = a.length;
  const m = b.length;
  const table: Uint32Array[] = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    const row = table[i]!;
    const below = table[i + 1]!;
    for (let j = m - 1; j >= 0; j--) {
      row[j] = a[i] === b[j] ? below[j + 1]! + 1 : Math.max(below[j]!, row[j + 1]!);
    }
  }
  const ops: Op[] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) ops.push({ op: "same", a: i++, b: j++ });
    else if (table[i + 1]![j]! >= table[i]![j + 1]!) ops.push({ op: "del", a: i++, b: j });
    else ops.push({ op: "add", a: i, b: j++ });
  }
  while (i < n) ops.push({ op: "del", a: i++, b: j });
  while (j < m) ops.push({ op: "add", a: i, b: j++ });
  return ops;
}

/** Side-by-side rows: a run of deletions next to a run of additions pairs up as `changed` rows. */
export function sideBySide(before: string, after: string): DiffRow[] {
  const a = splitLines(before);
  const b = splitLines(after);
  const ops = lcsOps(a, b);
  const rows: DiffRow[] = [];
  let k = 0;
  while (k < ops.length) {
    const op = ops[k]!;
    if (op.op === "same") {
      rows.push({ kind: "same", left: a[op.a]!, right: b[op.b]!, leftNo: op.a + 1, rightNo: op.b + 1 });
      k++;
      continue;
    }
    const dels: number[] = [];
    const adds: number[] = [];
    while (k < ops.length && ops[k]!.op !== "same") {
      const o = ops[k]!;
      if (o.op === "del") dels.push(o.a);
      else adds.push(o.b);
      k++;
    }
    const pairs = Math.max(dels.length, adds.length);
    for (let p = 0; p < pairs; p++) {
      const l = dels[p];
      const r = adds[p];
      const kind: RowKind = l !== undefined && r !== undefined ? "changed" : l !== undefined ? "removed" : "added";
      rows.push({
        kind,
        left: l !== undefined ? a[l]! : null,
        right: r !== undefined ? b[r]! : null,
        leftNo: l !== undefined ? l + 1 : null,
        rightNo: r !== undefined ? r + 1 : null,
      });
    }
  }
  return rows;
}

export function diffStats(rows: DiffRow[]): { added: number; removed: number; changed: number } {
  let added = 0, removed = 0, changed = 0;
  for (const r of rows) {
    if (r.kind === "added") added++;
    else if (r.kind === "removed") removed++;
    else if (r.kind === "changed") changed++;
  }
  return { added, removed, changed };
}
