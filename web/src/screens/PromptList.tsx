// Prompts: server-side search and filters, one page at a time by cursor (never the whole list).
import { useEffect, useState } from "react";
import { useT } from "../i18n";
import { call, nextCursor, totalCount } from "../lib/api";
import { useLoad } from "../lib/load";
import { FailureBox, Link, Loading, useSession, when, CursorPager } from "../ui";

const PAGE = 25;

export function PromptList() {
  const t = useT();
  const { api } = useSession();
  const [typed, setTyped] = useState("");
  const [q, setQ] = useState("");
  const [classId, setClassId] = useState("");
  const [tag, setTag] = useState("");
  const [label, setLabel] = useState("");
  const [sort, setSort] = useState("");
  const [archived, setArchived] = useState<"false" | "true" | "all">("false");
  const [cursors, setCursors] = useState<(string | null)[]>([null]); // cursor of each page seen
  useEffect(() => {
    const timer = setTimeout(() => { setQ(typed.trim()); setCursors([null]); }, 250);
    return () => clearTimeout(timer);
  }, [typed]);
  const cursor = cursors[cursors.length - 1] ?? null;
  const filters = useLoad(async () => {
    const [classes, tags] = await Promise.all([
      call(api.GET("/api/v1/prompt-classes", { params: { query: { limit: 200 } } })),
      call(api.GET("/api/v1/prompt-tags", { params: { query: { limit: 200 } } })),
    ]);
    return { classes: classes.data, tags: tags.data.items };
  }, [api]);
  const page = useLoad(async () => {
    const query = {
      limit: PAGE,
      ...(q ? { q } : {}),
      ...(classId ? { class_id: classId } : {}),
      ...(tag ? { tag: [tag] } : {}),
      ...(label ? { label } : {}),
      ...(sort ? { sort } : {}),
      ...(archived !== "false" ? { archived } : {}),
      ...(cursor ? { cursor } : {}),
    };
    const { data, response } = await call(api.GET("/api/v1/prompts", { params: { query } }));
    return { items: data, next: nextCursor(response), total: totalCount(response) };
  }, [api, q, classId, tag, label, sort, archived, cursor]);
  const reset = () => setCursors([null]);
  return (
    <section>
      <div className="title-row">
        <h2>{t("prompts.title")}</h2>
        <Link to="/prompts/new" className="button" testId="new-prompt">{t("prompts.new")}</Link>
      </div>
      <div className="filters">
        <input placeholder={t("prompts.search")} value={typed} data-testid="prompt-search" onChange={(e) => setTyped(e.target.value)} />
        <select value={classId} data-testid="class-filter" onChange={(e) => { setClassId(e.target.value); reset(); }}>
          <option value="">{t("prompts.allClasses")}</option>
          {filters.data?.classes.map((c) => <option key={c.id} value={c.id}>{c.name} ({c.prompt_count})</option>)}
        </select>
        <select value={tag} data-testid="tag-filter" onChange={(e) => { setTag(e.target.value); reset(); }}>
          <option value="">{t("prompts.allTags")}</option>
          {filters.data?.tags.map((g) => <option key={g.id} value={g.name}>{g.name} ({g.prompt_count})</option>)}
        </select>
        <input placeholder={t("prompts.label")} value={label} onChange={(e) => { setLabel(e.target.value.trim()); reset(); }} />
        <select value={archived} data-testid="archived-filter" onChange={(e) => { setArchived(e.target.value as "false" | "true" | "all"); reset(); }}>
          <option value="false">{t("prompts.active")}</option>
          <option value="true">{t("prompts.archivedOnly")}</option>
          <option value="all">{t("prompts.allStates")}</option>
        </select>
        <select value={sort} aria-label={t("common.sort")} onChange={(e) => { setSort(e.target.value); reset(); }}>
          <option value="">{t("prompts.sortDefault")}</option>
          <option value="-created_at">{t("prompts.sortNewest")}</option>
          <option value="name">{t("prompts.sortName")}</option>
        </select>
      </div>
      {page.failure && <FailureBox failure={page.failure} retry={page.reload} />}
      {page.loading && !page.data && <Loading />}
      {page.data && (
        <>
          <table data-testid="prompt-table">
            <thead>
              <tr><th>{t("prompts.name")}</th><th>{t("prompts.class")}</th><th>{t("prompts.tags")}</th><th>{t("prompts.labels")}</th><th>{t("prompts.versions")}</th><th>{t("common.updated")}</th></tr>
            </thead>
            <tbody>
              {page.data.items.map((p) => (
                <tr key={p.id}>
                  <td><Link to={`/prompts/${p.id}`}>{p.name}</Link>{p.archived && <span className="chip bad">{t("prompt.archived")}</span>}</td>
                  <td>{p.class?.name ?? "—"}</td>
                  <td>{p.tags.map((g) => <span key={g.id} className="chip" style={{ borderColor: g.color ?? undefined }}>{g.name}</span>)}</td>
                  <td>{Object.entries(p.labels).map(([k, v]) => <span key={k} className="chip">{k}→v{String(v)}</span>)}</td>
                  <td>{p.version_count}</td>
                  <td>{when(p.updated_at)}</td>
                </tr>
              ))}
              {page.data.items.length === 0 && <tr><td colSpan={6} className="muted">{t("common.empty")}</td></tr>}
            </tbody>
          </table>
          <CursorPager cursors={cursors} setCursors={setCursors} next={page.data.next} total={page.data.total} />
        </>
      )}
    </section>
  );
}
