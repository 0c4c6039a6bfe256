// The key's projects (`GET /api/v1/projects`, ADR 0017), for the switcher. A 404 is a
// deployment from before projects: one project, no switcher.
import type { PromptWorksClient, Schemas } from "@promptworks/client";
import { call } from "./api";

export type Project = Schemas["ProjectOut"];

/** The project id every request names when there is no choice yet (query-api's own default). */
export const DEFAULT_PROJECT = "default";

export async function fetchProjects(api: PromptWorksClient): Promise<Project[] | null> {
  try {
    const { data } = await call(api.GET("/api/v1/projects", { params: { query: { limit: 200 } } }));
    return data.items;
  } catch (e) {
    if (e && typeof e === "object" && "status" in e && (e as { status: number }).status === 404) return null;
    throw e;
  }
}

/** The project to show: the stored choice if the key still reaches it, else `default`, else the
 * first of the key's projects (null: no projects listed, so send no X-Project at all). */
export function chooseProject(projects: readonly Project[], stored: string | null): string | null {
  if (stored && projects.some((p) => p.id === stored)) return stored;
  if (projects.some((p) => p.id === DEFAULT_PROJECT)) return DEFAULT_PROJECT;
  return projects[0]?.id ?? null;
}
