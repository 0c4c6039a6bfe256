// Test cases pasted (or uploaded) as a JSON array, JSON Lines or CSV with a header row -> the list
// of variable maps the API takes as `cases`. Errors name the line, so the user can fix the paste.

export type CaseFormat = "json" | "jsonl" | "csv";
export type Case = Record<string, unknown>;

export class CaseParseError extends Error {
  constructor(message: string, readonly line: number | null) {
    super(line === null ? message : `line ${line}: ${message}`);
  }
}

/** The format of a paste: a leading `[` is a JSON array, a leading `{` JSON Lines, else CSV. */
export function detectFormat(text: string): CaseFormat {
  const head = text.trimStart();
  if (head.startsWith("[")) return "json";
  if (head.startsWith("{")) return "jsonl";
  return "csv";
}

function asCase(value: unknown, line: number | null): Case {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new CaseParseError("each case must be an object of variables", line);
  }
  return value as Case;
}

export function parseCases(text: string, format: CaseFormat = detectFormat(text)): Case[] {
  if (text.trim() === "") return [];
  if (format === "json") {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      throw new CaseParseError(`not valid JSON (${(e as Error).message})`, null);
    }
    if (!Array.isArray(parsed)) throw new CaseParseError("a JSON paste must be an array of objects", null);
    return parsed.map((v, i) => asCase(v, i + 1));
  }
  if (format === "jsonl") {
    const out: Case[] = [];
    text.split(/\r?\n/).forEach((raw, i) => {
      if (raw.trim() === "") return;
      let parsed: unknown;
      try {
        parsed = JSON.parse(raw);
      } catch {
        throw new CaseParseError("not a JSON object", i + 1);
      }
      out.push(asCase(parsed, i + 1));
    });
    return out;
  }
  return parseCsv(text);
}

/** RFC 4180 CSV: quoted fields may hold commas, quotes ("") and newlines. The first row names
 * the variables; every value stays a string (the template decides what it means). */
export function parseCsv(text: string): Case[] {
  const rows: { cells: string[]; line: number }[] = [];
  let cells: string[] = [];
  let cell = "";
  let quoted = false;
  let line = 1;
  let rowLine = 1;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') { cell += '"'; i++; } else quoted = false;
      } else {
        if (c === "\n") line++;
        cell += c;
      }
      continue;
    }
    if (c === '"' && cell === "") quoted = true;
    else if (c === ",") { cells.push(cell); cell = ""; }
    else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      cells.push(cell);
      rows.push({ cells, line: rowLine });
      cells = []; cell = ""; line++; rowLine = line;
    } else cell += c;
  }
  if (quoted) throw new CaseParseError("a quoted field is not closed", rowLine);
  if (cell !== "" || cells.length > 0) { cells.push(cell); rows.push({ cells, line: rowLine }); }
  const filled = rows.filter((r) => r.cells.some((v) => v.trim() !== ""));
  const header = filled.shift();
  if (!header) return [];
  const names = header.cells.map((h) => h.trim());
  if (names.some((n) => n === "")) throw new CaseParseError("every column needs a name in the header row", header.line);
  return filled.map((r) => {
    if (r.cells.length !== names.length) {
      throw new CaseParseError(`${r.cells.length} values for ${names.length} columns`, r.line);
    }
    return Object.fromEntries(names.map((n, i) => [n, r.cells[i]!]));
  });
}
