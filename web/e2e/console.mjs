// The console in a real browser (Debian's chromium, driven by puppeteer-core) against a running
// stack: sign in, create a prompt (its live preview following the typed template) and a second
// version, diff them, start a batch on the mock provider, watch it, open the results, compare
// the two versions, see the cost; register, change and remove a catalog provider; create an
// evaluator and version it; a refusal shown by its field, a lost connection shown with a retry,
// the Chinese catalog. Saves a screenshot of
// each screen. Usage: node console.mjs <query-api URL> <API key> <screenshot dir>
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import puppeteer from "puppeteer-core";

const [base, apiKey, shots] = process.argv.slice(2);
if (!base || !apiKey || !shots) {
  console.error("usage: node console.mjs <url> <key> <screenshot dir>");
  process.exit(2);
}
mkdirSync(shots, { recursive: true });
const WAIT = { timeout: 30_000 };
const unique = Math.random().toString(16).slice(2, 8);

const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
  defaultViewport: { width: 1280, height: 860 },
});
const page = await browser.newPage();
const problems = [];
page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));

const $ = (id) => `[data-testid="${id}"]`;
const step = (name) => console.log(`ok: ${name}`);
const shot = (name) => page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
const text = (sel) => page.$eval(sel, (el) => el.textContent ?? "");
async function waitText(sel, predicate, what) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const value = await page.$eval(sel, (el) => el.textContent ?? "").catch(() => "");
    if (predicate(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${sel} is ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
// Puppeteer's locators wait for an attached, visible, stable element and retry a click whose
// element a re-render detached.
const click = (sel) => page.locator(sel).click();
// Replaces a field's text as a user would (select all, delete, type), so React sees each change.
async function fill(sel, value, target = page) {
  await target.focus(sel);
  await target.keyboard.down("Control");
  await target.keyboard.press("KeyA");
  await target.keyboard.up("Control");
  await target.keyboard.press("Backspace");
  await target.type(sel, value);
}

try {
  // Sign in: a wrong key is refused; the right one opens the prompts.
  await page.goto(base + "/", { waitUntil: "networkidle0" });
  await page.select($("lang"), "en");
  await page.type($("api-key"), "not-a-key");
  await page.locator($("sign-in")).click();
  await page.waitForSelector($("failure"), WAIT);
  await shot("01-sign-in");
  await fill($("api-key"), apiKey);
  await page.locator($("sign-in")).click();
  // The project switcher settles first (choosing the project remounts the screen).
  await page.waitForSelector($("project"), WAIT);
  await page.waitForSelector($("prompt-table"), WAIT);
  step("signed in");

  // A new prompt: the API's refusal is shown next to the field it names.
  await click($("new-prompt"));
  await page.waitForSelector($("f-name"), WAIT);
  // The live preview renders what is typed (POST /render): a template error names its field.
  await page.type($("f-template"), "Greet {{ name ");
  await waitText($("preview-error"), (v) => v.includes("template"), "the template error in the preview");
  await fill($("f-template"), "Greet {{ name }} warmly.");
  await page.locator($("add-var")).click();
  await page.type($("var-name-0"), "name");
  await page.type($("var-sample-0"), "Bo");
  await waitText($("preview"), (v) => v.includes("Greet Bo warmly."), "the live preview of the typed template");
  step("live preview follows the typed template");
  await page.locator($("save")).click();
  await page.waitForSelector('[data-field-error="name"]', WAIT);
  await shot("02-editor-field-error");
  step(`refusal shown by its field: ${await text('[data-field-error="name"]')}`);
  const name = `Greeting ${unique}`;
  await page.type($("f-name"), name);
  await page.type($("f-class"), "e2e");
  await page.type($("f-tags"), "console, e2e");
  await page.type($("f-message"), "first version");
  await page.locator($("save")).click();
  await waitText($("prompt-name"), (v) => v === name, "the prompt's page");
  step("prompt created");

  // A second version, with the live preview rendered by the API.
  await page.locator($("new-version")).click();
  await page.waitForSelector($("var-sample-0"), WAIT);
  await waitText($("f-template"), (v) => v.includes("Greet"), "the current template in the editor");
  await page.type($("var-sample-0"), "Ada");
  await waitText($("preview"), (v) => v.includes("Greet Ada warmly."), "the rendered preview");
  await fill($("f-template"), "Greet {{ name }} warmly and briefly.\nSign as PromptWorks.");
  await waitText($("preview"), (v) => v.includes("Greet Ada warmly and briefly."), "the preview of the edited template");
  await page.type($("f-message"), "shorter, signed");
  await shot("03-version-editor");
  await page.locator($("save")).click();
  await page.waitForSelector($("pick-2"), WAIT);
  await page.locator($("label-1")).click(); // "production" -> v1
  await waitText("body", (v) => v.includes("production → v1"), "the label on v1");
  await shot("04-prompt-detail");
  step("second version created; production label set on v1");

  // Diff v1 and v2 side by side.
  await page.locator($("pick-1")).click();
  await page.locator($("pick-2")).click();
  await page.locator($("diff-selected")).click();
  await page.waitForSelector(`${$("diff-table")} tr.d-changed`, WAIT);
  const stats = await text($("diff-stats"));
  if (!stats.includes("1 changed") || !stats.includes("1 added")) throw new Error(`diff stats: ${stats}`);
  await shot("05-diff");
  step(`diff: ${stats}`);

  // A batch: both versions on two mock models (echo answers the prompt itself; priced has a
  // price, echo none) over three pasted CSV cases.
  await page.goBack();
  await page.waitForSelector($("test-prompt"), WAIT);
  await page.locator($("test-prompt")).click();
  await page.waitForSelector($("b-version-2"), WAIT);
  await page.locator($("b-version-1")).click();
  await page.locator($("b-version-2")).click();
  await fill($("b-models"), "mock/echo\nmock/priced");
  await page.type($("b-cases"), "name\nAda\nGrace\nLinus\n");
  await fill($("b-assertions"), '[{"type": "contains", "value": "{{ name }}", "name": "mentions_name"}]');
  await page.type($("b-budget"), "1.00");
  const estimate = await waitText($("estimate"), (v) => v.includes("12 calls") && /[1-9]\d* ?USD|0\.0*[1-9]\d* USD/.test(v), "the calls before start");
  await shot("06-batch-new");
  step(`estimate: ${estimate}`);
  await page.locator($("start-batch")).click();
  await page.waitForSelector($("batch-status"), WAIT);
  await waitText($("batch-status"), (v) => v === "completed", "the batch to complete (live)");
  await waitText($("cell-table"), (v) => v.includes("%"), "the cells' evaluation (live)");
  await waitText($("matrix-table"), (v) => /regressed|improved|no significant change/i.test(v), "the batch's comparison matrix");
  await shot("07-batch-progress");
  step(`batch completed, cost ${await text($("batch-cost"))}`);

  // The v2 run's results (echo), then its comparison with the v1 run.
  await page.locator($("cell-run-v2-echo")).click();
  await page.waitForSelector(`${$("results-table")} tbody tr`, WAIT);
  await waitText($("pass-rate"), (v) => v.includes("%"), "the run's pass rate");
  const rows = await page.$$eval(`${$("results-table")} tbody tr`, (trs) => trs.length);
  if (rows !== 3) throw new Error(`expected 3 results, saw ${rows}`);
  await shot("08-run-results");
  step(`results: ${rows} rows, cost ${await text($("run-cost"))}`);
  // Optimisation advice from the mock judge, on the finished run.
  await click($("advice-ask"));
  await page.waitForSelector($("advice-given"), WAIT);
  await page.waitForSelector($("advice-apply"), WAIT);
  await shot("08b-run-advice");
  step("advice given");
  const baseline = await page.$$eval(`${$("baseline")} option`, (options) =>
    options.find((o) => o.textContent.includes("· v1 · echo ·"))?.value ?? "");
  if (!baseline) throw new Error("no v1 run to compare with");
  await page.select($("baseline"), baseline);
  await page.locator($("compare")).click();
  const verdict = await waitText($("verdict"), (v) => v.length > 0, "the verdict");
  await shot("09-compare");
  step(`compare verdict: ${verdict}`);

  // Cost and usage.
  await page.locator($("nav-usage")).click();
  const cost = await waitText($("usage-cost"), (v) => /\d/.test(v), "the usage cost");
  await shot("10-usage");
  step(`usage cost: ${cost}`);

  // Quick test: the answer streams in (mock/echo answers the rendered prompt).
  await page.locator($("nav-quick")).click();
  await waitText($("q-prompt"), (v) => v.includes(name), "the prompts offered");
  const promptOption = await page.$$eval(`${$("q-prompt")} option`, (options, wanted) =>
    options.find((o) => o.textContent === wanted)?.value ?? "", name);
  if (!promptOption) throw new Error("the new prompt is not offered for a quick test");
  await page.select($("q-prompt"), promptOption);
  await fill($("q-variables"), '{"name": "Ada"}');
  await page.locator($("q-run")).click();
  await waitText($("q-output"), (v) => v.includes("Greet Ada warmly and briefly."), "the streamed answer");
  await page.waitForSelector($("q-record"), WAIT);
  // The call is in the history once query-api has projected it (the screen reads it again).
  await waitText($("q-history"), (v) => v.includes("Greet Ada warmly and briefly.") && v.includes("mock/echo"), "the call in the quick-test history");
  await shot("11-quick-test");
  step("quick test streamed, then listed in the history");

  // Providers and models with their prices; API keys (the secret shown once).
  await page.locator($("nav-providers")).click();
  await waitText($("provider-table"), (v) => v.includes("priced") && v.includes("15.00"), "the priced mock model");
  // Register a catalog provider (credential by env-var reference, a model with price and
  // limits); a refusal is shown by its field; then change it and remove it.
  const pv = `e2e-${unique}`;
  await page.type($("pv-name"), pv);
  await page.type($("pv-base-url"), "ftp://127.0.0.1/v1");
  await page.type($("pv-key-env"), "E2E_API_KEY");
  await page.type($("pm-name-0"), "e2e-model");
  await page.type($("pm-context-0"), "8000");
  await page.type($("pm-input-0"), "1.25");
  await page.type($("pm-output-0"), "2.5");
  await page.type($("pm-rpm-0"), "60");
  await page.locator($("pv-save")).click();
  await page.waitForSelector('[data-field-error="base_url"]', WAIT);
  await shot("12-providers");
  await fill($("pv-base-url"), "http://127.0.0.1:9/v1");
  await page.locator($("pv-save")).click();
  await waitText($(`provider-${pv}`), (v) => v.includes("1.25 / 2.5"), "the registered provider");
  await click($(`edit-${pv}`));
  await fill($("pm-output-0"), "3");
  await page.locator($("pv-save")).click();
  await waitText($("provider-table"), (v) => v.includes("1.25 / 3 "), "the changed price");
  await click($(`remove-${pv}`));
  await click($(`confirm-remove-${pv}`));
  await page.waitForFunction((sel) => !document.querySelector(sel), WAIT, $(`provider-${pv}`));
  step("catalog provider registered, changed and removed");
  await page.locator($("nav-keys")).click();
  await page.waitForSelector($("key-table"), WAIT);
  await page.type($("k-name"), `ci ${unique}`);
  await page.locator($("k-create")).click();
  await waitText($("k-secret"), (v) => v.includes("pwk_"), "the new key's secret");
  await waitText($("key-table"), (v) => v.includes(`ci ${unique}`), "the new key in the list");
  await shot("13-api-keys");
  step("providers listed; API key created");

  // The new key signs in another tab (its own session); revoked, that tab is signed out.
  const secret = (await text($("k-secret"))).match(/pwk_\S+/)?.[0] ?? "";
  const other = await browser.newPage();
  await other.goto(base + "/prompts", { waitUntil: "networkidle0" });
  await other.type($("api-key"), secret);
  await other.locator($("sign-in")).click();
  await other.waitForSelector($("prompt-table"), WAIT);
  await page.bringToFront();
  await page.$$eval(`${$("key-table")} tbody tr`, (rows, wanted) => {
    const row = rows.find((tr) => tr.textContent?.includes(wanted));
    row?.querySelector("button")?.click();
  }, `ci ${unique}`);
  // Revoked: its row loses the Revoke button.
  await page.waitForFunction((sel, wanted) => {
    const row = [...document.querySelectorAll(`${sel} tbody tr`)].find((tr) => tr.textContent?.includes(wanted));
    return row !== undefined && row.querySelector("button") === null;
  }, WAIT, $("key-table"), `ci ${unique}`);
  await other.bringToFront();
  await other.locator($("nav-runs")).click();
  await other.waitForSelector($("signed-out"), WAIT);
  await other.close();
  step("a revoked key's tab is signed out");

  // An evaluator: refused by the assertion's field, then created; a second version added.
  await page.locator($("nav-evaluators")).click();
  await page.waitForSelector($("evaluator-table"), WAIT);
  await click($("new-evaluator"));
  await page.type($("ev-name"), `checks ${unique}`);
  await fill($("ev-assertions"), '[{"type": "contains", "value": "Greet", "weight": -1}]');
  await page.locator($("ev-save")).click();
  await waitText('[data-field-error="assertions"]', (v) => v.includes("assertions.0") && v.includes("weight"), "the assertion's field error");
  await fill($("ev-assertions"), '[{"type": "contains", "value": "Greet"}]');
  await page.type($("ev-message"), "first checks");
  await page.locator($("ev-save")).click();
  await waitText($("evaluator-detail"), (v) => v.includes(`checks ${unique} · v1`), "the new evaluator");
  await click($("add-evaluator-version"));
  await page.select($("ev-insert"), "max_latency_ms");
  await page.locator($("ev-save")).click();
  await waitText($("evaluator-detail"), (v) => v.includes(`checks ${unique} · v2`) && v.includes("max_latency_ms"), "the evaluator's second version");
  await waitText($(`evaluator-checks ${unique}`), (v) => v.includes("v2"), "the list showing v2");
  await shot("17-evaluators");
  step("evaluator created, version added");

  // Runs list (all four runs of the batch); then a lost connection shows a retry, and the
  // retry brings the page back.
  await page.locator($("nav-runs")).click();
  await waitText($("run-table"), (v) => (v.match(/completed/g) ?? []).length >= 4, "the batch's runs listed");
  await shot("14-runs");
  await page.setOfflineMode(true);
  await page.locator($("nav-prompts")).click();
  await page.waitForSelector($("retry"), WAIT);
  await shot("15-connection-lost");
  await page.setOfflineMode(false);
  await page.locator($("retry")).click();
  await page.waitForSelector($("prompt-table"), WAIT);
  step("lost connection: retry shown and works");

  // Chinese.
  await page.select($("lang"), "zh");
  await waitText($("nav-prompts"), (v) => v === "提示词", "the Chinese catalog");
  await page.type($("prompt-search"), unique);
  await waitText($("prompt-table"), (v) => v.includes(name), "the server-side search");
  await shot("16-prompts-zh");
  step("switched to Chinese; search found the prompt");

  // Archive the prompt (confirmed), find it among the archived, restore it.
  page.on("dialog", (dialog) => void dialog.accept());
  await page.locator(`${$("prompt-table")} tbody a`).click();
  await page.waitForSelector($("archive"), WAIT);
  await page.locator($("archive")).click();
  await page.waitForSelector($("restore"), WAIT);
  await page.locator($("nav-prompts")).click();
  await page.select($("archived-filter"), "true");
  await page.type($("prompt-search"), unique);
  await waitText($("prompt-table"), (v) => v.includes(name), "the archived prompt");
  await page.locator(`${$("prompt-table")} tbody a`).click();
  await page.waitForSelector($("restore"), WAIT);
  await page.locator($("restore")).click();
  await page.waitForSelector($("archive"), WAIT);
  step("archived and restored");

  if (problems.length) throw new Error(problems.join("\n"));
  console.log("ALL OK");
} catch (error) {
  await shot("failure").catch(() => undefined);
  console.error(`FAILED: ${error instanceof Error ? error.stack : String(error)}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
