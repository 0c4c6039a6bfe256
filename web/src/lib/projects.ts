// The key's projects (`GET /api/v1/projects`, ADR 0017). Until that endpoint is in the generated
// client, its one call is typed here; a 404 means a single-project deployment (no switcher).
import type { PromptWorksClient } from "@promptworks/client";
import { call, type Answer } from "./api";

export interface Project {
  id: string;
  name: string;
  created_at: string;
}

interface ProjectsCall {
  GET(path: "/api/v1/projects", init?: object): Promise<Answer<{ items: Project[] }>>;
}

export async function fetchProjects(api: PromptWorksClient): Promise<Project[] | null> {
  const projects = api as unknown as ProjectsCall;
  try {
    const { data } = await call(projects.GET("/api/v1/projects"));
    return data.items;
  } catch (e) {
    if (e && typeof e === "object" && "status" in e && (e as { status: number }).status === 404) return null;
    throw e;
  }
}
