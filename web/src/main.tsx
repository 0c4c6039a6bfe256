import { createRoot } from "react-dom/client";
import { App } from "./App";
import { loadLang } from "./i18n";
import { takeKeyFromFragment } from "./lib/session";
import "./style.css";

takeKeyFromFragment(window.location, window.history);
createRoot(document.getElementById("root")!).render(<App initialLang={loadLang()} />);
