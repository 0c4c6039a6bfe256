// A real client of a running query-api: creates a prompt, reads it back, reads errors.
// Usage: node dist/test/smoke.js <query-api root URL> <API key>. Exit status 1 on the first
// failed check.
import { type Problem, promptWorksClient } from "../src/index.js";

function check(condition: boolean, what: string, seen?: unknown): asserts condition {
  if (!condition) {
    console.error(`FAILED: ${what}`, seen === undefined ? "" : JSON.stringify(seen));
    process.exit(1);
  }
  console.log(`ok: ${what}`);
}

const baseUrl = process.argv[2];
check(typeof baseUrl === "string" && baseUrl.startsWith("http"), "a base URL is given", baseUrl);
const apiKey = process.argv[3];
check(typeof apiKey === "string" && apiKey.length > 0, "an API key is given");
const api = promptWorksClient(baseUrl, apiKey, { headers: { "X-Actor": "ts-client" } });
const name = `ts-client ${Date.now()}`;

const created = await api.POST("/api/v1/prompts", {
  body: {
    name,
    class_name: "typescript",
    content: "Hello {{ name }}",
    variables: [{ name: "name" }],
    commit_message: "from the TypeScript client",
  },
});
check(created.response.status === 201, "POST /prompts answers 201", created.error);
check(created.data !== undefined && created.data.name === name, "the answer is the prompt");
const promptId = created.data.id;

const read = await api.GET("/api/v1/prompts/{prompt_id}", {
  params: { path: { prompt_id: promptId } },
});
check(read.response.status === 200 && read.data !== undefined, "GET /prompts/{id}", read.error);
check(read.data.name === name, "it reads back by name", read.data);
check(read.data.current_version?.number === 1, "version 1 is current", read.data.current_version);

const missing = await api.GET("/api/v1/prompts/{prompt_id}", {
  params: { path: { prompt_id: "00000000-0000-4000-8000-000000000000" } },
});
const notFound: Problem | undefined = missing.error;
check(missing.response.status === 404 && notFound !== undefined, "an unknown id is 404");
check(
  missing.response.headers.get("content-type") === "application/problem+json",
  "errors are application/problem+json",
  missing.response.headers.get("content-type"),
);
check(notFound.type === "urn:promptworks:problem:not-found", "its type says not-found", notFound);
check(notFound.errors[0]?.field === "prompt_id", "it names the field", notFound.errors);

const refused = await api.POST("/api/v1/prompts", { body: { name: "   ", content: "x" } });
const invalid: Problem | undefined = refused.error;
check(refused.response.status === 422 && invalid !== undefined, "a blank name is 422");
check(invalid.errors[0]?.field === "name", "the refusal names the field", invalid);
check(invalid.status === 422 && invalid.title.length > 0, "in the one problem shape", invalid);
