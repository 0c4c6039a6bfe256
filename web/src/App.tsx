// The console's shell: sign-in, language and project switches, navigation, the routed screen.
import { useEffect, useMemo, useState } from "react";
import { I18n, saveLang, translator, useT, type Lang } from "./i18n";
import { apiClient, asFailure, call, UNAUTHORIZED } from "./lib/api";
import { chooseProject, fetchProjects, type Project } from "./lib/projects";
import { forgetKey, storedKey, storedProject, storeKey, storeProject } from "./lib/session";
import { useRoute, type Route } from "./lib/router";
import type { Failure } from "./lib/problems";
import { FailureBox, Link, Session, type SessionState } from "./ui";
import { PromptList } from "./screens/PromptList";
import { PromptDetail } from "./screens/PromptDetail";
import { VersionEditor } from "./screens/VersionEditor";
import { VersionDiff } from "./screens/VersionDiff";
import { RunList } from "./screens/RunList";
import { RunDetail } from "./screens/RunDetail";
import { BatchNew } from "./screens/BatchNew";
import { BatchDetail } from "./screens/BatchDetail";
import { RunCompare } from "./screens/RunCompare";
import { Usage } from "./screens/Usage";
import { QuickTest } from "./screens/QuickTest";
import { Providers } from "./screens/Providers";
import { ApiKeys } from "./screens/ApiKeys";
import { Evaluators } from "./screens/Evaluators";

export function App({ initialLang }: { initialLang: Lang }) {
  const [lang, setLangState] = useState<Lang>(initialLang);
  const i18n = useMemo(
    () => ({ lang, t: translator(lang), setLang: (l: Lang) => { saveLang(l); setLangState(l); } }),
    [lang],
  );
  useEffect(() => { document.documentElement.lang = lang === "zh" ? "zh-CN" : "en"; }, [lang]);
  const [apiKey, setApiKey] = useState<string | null>(storedKey());
  const [expired, setExpired] = useState(false);
  useEffect(() => {
    // A key revoked or expired while in use: back to sign-in, saying why.
    const signOut = () => { if (storedKey()) { forgetKey(); setApiKey(null); setExpired(true); } };
    window.addEventListener(UNAUTHORIZED, signOut);
    return () => window.removeEventListener(UNAUTHORIZED, signOut);
  }, []);
  return (
    <I18n.Provider value={i18n}>
      {apiKey ? (
        <Console apiKey={apiKey} signOut={() => { forgetKey(); setApiKey(null); }} />
      ) : (
        <SignIn expired={expired} onSignedIn={(k) => { storeKey(k); setApiKey(k); setExpired(false); }} />
      )}
    </I18n.Provider>
  );
}

function LangSwitch() {
  const { lang, setLang } = useI18nContext();
  return (
    <select aria-label="language" data-testid="lang" value={lang} onChange={(e) => setLang(e.target.value as Lang)}>
      <option value="en">English</option>
      <option value="zh">中文</option>
    </select>
  );
}

import { useContext } from "react";
function useI18nContext() {
  return useContext(I18n);
}

function SignIn({ onSignedIn, expired }: { onSignedIn: (key: string) => void; expired: boolean }) {
  const t = useT();
  const [key, setKey] = useState("");
  const [failure, setFailure] = useState<Failure | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async () => {
    setBusy(true);
    setFailure(null);
    try {
      await call(apiClient(key.trim(), null).GET("/api/v1/prompts", { params: { query: { limit: 1 } } }));
      onSignedIn(key.trim());
    } catch (e) {
      setFailure(asFailure(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main className="signin">
      <div className="signin-box">
        <h1>PromptWorks</h1>
        <LangSwitch />
        <p className="muted">{t("signin.explain")}</p>
        {expired && <p className="warn" data-testid="signed-out">{t("signin.expired")}</p>}
        <form onSubmit={(e) => { e.preventDefault(); void submit(); }}>
          <label>
            {t("signin.key")}
            <input type="password" data-testid="api-key" value={key} autoComplete="off" onChange={(e) => setKey(e.target.value)} />
          </label>
          <button type="submit" data-testid="sign-in" disabled={busy || key.trim() === ""}>{t("signin.submit")}</button>
        </form>
        {failure && <FailureBox failure={failure} retry={failure.offline ? () => void submit() : undefined} />}
      </div>
    </main>
  );
}

function Console({ apiKey, signOut }: { apiKey: string; signOut: () => void }) {
  const t = useT();
  const route = useRoute();
  const [project, setProject] = useState<string | null>(storedProject());
  const [projects, setProjects] = useState<Project[] | null>(null);
  // The screens mount once the project is settled: mounting before would fetch with the stored
  // project, then remount (main is keyed by project) and fetch again.
  const [settled, setSettled] = useState(false);
  const session: SessionState = useMemo(() => ({ api: apiClient(apiKey, project), apiKey, project }), [apiKey, project]);
  useEffect(() => {
    let live = true;
    fetchProjects(apiClient(apiKey, null)).then(
      (list) => {
        if (!live) return;
        setProjects(list);
        const chosen = list ? chooseProject(list, project) : null;
        if (chosen !== project) {
          storeProject(chosen);
          setProject(chosen);
        }
        setSettled(true);
      },
      () => { if (live) { setProjects(null); setSettled(true); } },
    );
    return () => { live = false; };
  }, [apiKey]);
  const section = route.name.startsWith("prompt") || route.name === "version-new" || route.name === "diff" ? "prompts"
    : ["usage", "quick-test", "providers", "keys", "evaluators"].includes(route.name) ? route.name : "runs";
  return (
    <Session.Provider value={session}>
      <header className="topbar">
        <span className="brand">PromptWorks</span>
        <nav>
          <Link to="/prompts" className={section === "prompts" ? "active" : ""} testId="nav-prompts">{t("nav.prompts")}</Link>
          <Link to="/runs" className={section === "runs" ? "active" : ""} testId="nav-runs">{t("nav.runs")}</Link>
          <Link to="/quick-test" className={section === "quick-test" ? "active" : ""} testId="nav-quick">{t("nav.quick")}</Link>
          <Link to="/usage" className={section === "usage" ? "active" : ""} testId="nav-usage">{t("nav.usage")}</Link>
          <Link to="/evaluators" className={section === "evaluators" ? "active" : ""} testId="nav-evaluators">{t("nav.evaluators")}</Link>
          <Link to="/providers" className={section === "providers" ? "active" : ""} testId="nav-providers">{t("nav.providers")}</Link>
          <Link to="/keys" className={section === "keys" ? "active" : ""} testId="nav-keys">{t("nav.keys")}</Link>
        </nav>
        <span className="spacer" />
        {projects && projects.length > 0 && (
          <select
            aria-label={t("nav.project")}
            data-testid="project"
            value={project ?? ""}
            onChange={(e) => { storeProject(e.target.value); setProject(e.target.value); }}
          >
            {projects.map((p) => <option key={p.id} value={p.id}>{p.name}</option>)}
          </select>
        )}
        <LangSwitch />
        <button className="link" onClick={signOut} data-testid="sign-out">{t("nav.signOut")}</button>
      </header>
      <main className="content" key={project ?? "-"}>
        {settled ? <Screen route={route} /> : <p className="muted" data-testid="loading">{t("common.loading")}</p>}
      </main>
    </Session.Provider>
  );
}

function Screen({ route }: { route: Route }) {
  const t = useT();
  const id = route.params["id"] ?? "";
  switch (route.name) {
    case "prompts": return <PromptList />;
    case "prompt-new": return <VersionEditor promptId={null} />;
    case "prompt": return <PromptDetail id={id} />;
    case "version-new": return <VersionEditor promptId={id} />;
    case "diff": return <VersionDiff id={id} from={route.query.get("from")} to={route.query.get("to")} />;
    case "runs": return <RunList promptId={route.query.get("prompt")} />;
    case "run": return <RunDetail id={id} />;
    case "batch-new": return <BatchNew promptId={route.query.get("prompt")} />;
    case "batch": return <BatchDetail id={id} />;
    case "compare": return <RunCompare id={id} baseline={route.query.get("baseline")} />;
    case "usage": return <Usage />;
    case "quick-test": return <QuickTest />;
    case "providers": return <Providers />;
    case "keys": return <ApiKeys />;
    case "evaluators": return <Evaluators />;
    default: return <p>{t("common.notFound")}</p>;
  }
}
