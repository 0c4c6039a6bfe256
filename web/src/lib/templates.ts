// A version's template as text, for diffs and the editor: a chat template is one block per
// message headed by its role (the same text the editor accepts back).
import type { Schemas } from "@promptworks/client";

export type Template = Schemas["PromptVersionOut"]["template"];
export type ChatMessage = Schemas["ChatMessage"];

export function templateText(template: Template): string {
  if (template.kind === "text") return template.text;
  return messagesToText(template.messages);
}

export function messagesToText(messages: readonly ChatMessage[]): string {
  return messages.map((m) => `### ${m.role}\n${m.content}`).join("\n");
}

const ROLE = /^### (system|user|assistant)\s*$/;

/** The editor's chat text -> messages: `### role` lines start a message. */
export function textToMessages(text: string): ChatMessage[] {
  const out: ChatMessage[] = [];
  for (const line of text.split(/\r?\n/)) {
    const m = ROLE.exec(line);
    if (m) out.push({ role: m[1] as ChatMessage["role"], content: "" });
    else if (out.length > 0) {
      const last = out[out.length - 1]!;
      last.content = last.content === "" ? line : `${last.content}\n${line}`;
    } else if (line.trim() !== "") out.push({ role: "user", content: line });
  }
  return out;
}
