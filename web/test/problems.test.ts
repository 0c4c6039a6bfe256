import { describe, expect, it } from "vitest";
import type { PromptWorksClient } from "@promptworks/client";
import { chooseProject, fetchProjects } from "../src/lib/projects";
import { failureOf, formFieldOf, problemToFormErrors } from "../src/lib/problems";

const problem = (errors: { field: string | null; msg: string }[]) => ({
  type: "about:blank", title: "Unprocessable Content", status: 422, detail: "invalid",
  errors: errors.map((e) => ({ ...e, loc: ["body"], type: "value_error" })),
});

describe("error-to-field mapping", () => {
  it("puts each message next to the field it names, nested paths on their form field", () => {
    const out = problemToFormErrors(
      problem([
        { field: "name", msg: "too long" },
        { field: "variables.0.name", msg: "not an identifier" },
        { field: "budget", msg: "must be positive" },
      ]),
      ["name", "variables", "variables.0.name"],
    );
    expect(out.fields).toEqual({ name: ["too long"], "variables.0.name": ["not an identifier"] });
    expect(out.general).toEqual(["budget: must be positive"]);
  });

  it("does not match a look-alike prefix", () => {
    expect(formFieldOf("names", ["name"])).toBeNull();
    expect(formFieldOf("cases.3", ["cases"])).toBe("cases");
    expect(formFieldOf(null, ["cases"])).toBeNull();
  });

  it("falls back to the detail when the problem lists no errors", () => {
    const out = problemToFormErrors({ ...problem([]), detail: "the name is taken" }, ["name"]);
    expect(out).toEqual({ fields: {}, general: ["the name is taken"] });
  });

  it("tells a lost connection from a refusal", () => {
    expect(failureOf(new TypeError("Failed to fetch"))).toMatchObject({ offline: true, status: 0 });
    expect(failureOf(problem([{ field: "name", msg: "x" }]), 422)).toMatchObject({ offline: false, status: 422, message: "invalid" });
  });
});

describe("projects", () => {
  const answering = (status: number, data?: unknown) => ({
    GET: async () => ({ data, error: status >= 400 ? { type: "x", title: "t", status, detail: "d", errors: [] } : undefined, response: new Response(null, { status }) }),
  }) as unknown as PromptWorksClient;

  it("reads the key's projects, and a 404 means one project (no switcher)", async () => {
    const items = [{ id: "p1", name: "Team A", created_at: "2026-11-01T00:00:00Z" }];
    expect(await fetchProjects(answering(200, { items }))).toEqual(items);
    expect(await fetchProjects(answering(404))).toBeNull();
    await expect(fetchProjects(answering(403))).rejects.toMatchObject({ status: 403, offline: false });
  });
});

describe("project choice", () => {
  const at = "2026-11-01T00:00:00Z";
  const projects = [{ id: "team-a", name: "A", created_at: at }, { id: "default", name: "Default", created_at: at }];
  it("keeps a reachable stored choice, else default, else the first", () => {
    expect(chooseProject(projects, "team-a")).toBe("team-a");
    expect(chooseProject(projects, "gone")).toBe("default");
    expect(chooseProject(projects, null)).toBe("default");
    expect(chooseProject([projects[0]!], null)).toBe("team-a");
    expect(chooseProject([], "team-a")).toBeNull();
  });
});
