// Parses an AsyncAPI document with the official parser (@asyncapi/parser) and prints every
// diagnostic as one JSON line: {"severity": "error"|"warning"|..., "code", "message", "path"}.
// Exit status 1 when any diagnostic is an error. Usage: node check-asyncapi.mjs <document.json>
import { readFile } from "node:fs/promises";
import { pathToFileURL } from "node:url";
import { resolve } from "node:path";
import { Parser, fromFile } from "@asyncapi/parser";

const SEVERITY = ["error", "warning", "information", "hint"];

const path = resolve(process.argv[2] ?? "");
await readFile(path); // a clear ENOENT before the parser's own message
const parser = new Parser();
const { diagnostics } = await fromFile(parser, path).parse({
  source: pathToFileURL(path).href,
});
let errors = 0;
for (const d of diagnostics) {
  const severity = SEVERITY[d.severity] ?? String(d.severity);
  if (severity === "error") errors += 1;
  console.log(JSON.stringify({ severity, code: d.code, message: d.message, path: d.path }));
}
process.exit(errors ? 1 : 0);
