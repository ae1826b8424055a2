// What the buttons and shortcuts do: queueing, saving and opening workflows, importing files, and applying
// the server's events to the run state.
import { api, RequestFailed } from "../api/client";
import type { ServerEvent } from "../api/socket";
import { applyControls } from "../model/controls";
import { fromApiPrompt } from "../model/fromApi";
import { buildNodeDef } from "../model/nodeDefs";
import { pluginMessages } from "../model/plugins";
import { pngTextChunks } from "../model/png";
import { toApiPrompt } from "../model/toApi";
import type { ApiPrompt, UIWorkflow } from "../model/types";
import { activeTab, editDoc, emptyRun, getState, notify, openTab, setState } from "./store";

export async function loadDefinitions(): Promise<void> {
  const info = await api.objectInfo();
  const defs = Object.fromEntries(Object.values(info).map((node) => [node.name, buildNodeDef(node)]));
  setState({ defs });
  api.plugins().then((p) => setState({ plugins: pluginMessages(p) })).catch(() => undefined);
}

export function missingTypes(doc: UIWorkflow): string[] {
  const defs = getState().defs;
  const virtual = new Set(["PrimitiveNode", "Reroute", "Note", "MarkdownNote"]);
  return [...new Set(doc.nodes.map((n) => n.type).filter((t) => !defs[t] && !virtual.has(t)))];
}

export async function queuePrompt(): Promise<void> {
  const tab = activeTab();
  if (!tab) return;
  const { defs } = getState();
  const missing = missingTypes(tab.doc);
  if (missing.length) notify("error", `Missing node types run nowhere: ${missing.join(", ")}`);
  const prompt = toApiPrompt(tab.doc, defs);
  // Cleared before sending: a small prompt can finish (and report) before its answer arrives.
  setState((s) => ({ run: { ...s.run, nodeErrors: {} } }));
  try {
    const socket = (window as unknown as { atelierSocket?: { clientId: string } }).atelierSocket;
    const answer = await api.queuePrompt(prompt, socket?.clientId ?? "", tab.doc);
    showNodeErrors(answer.node_errors);
    editDoc((doc) => applyControls(doc, defs), false);
  } catch (error) {
    if (error instanceof RequestFailed) {
      showNodeErrors(error.nodeErrors);
      notify("error", error.error ? `${error.error.message}${error.error.details ? `: ${error.error.details}` : ""}` : error.message);
      setState({ panel: "errors" });
    } else {
      notify("error", String(error));
    }
  }
}

function showNodeErrors(nodeErrors: Record<string, { errors: { message: string; details: string; extra_info: Record<string, unknown> }[] }>): void {
  const entries = Object.entries(nodeErrors ?? {});
  if (!entries.length) return;
  const nodeErrorsState: Record<string, { message: string; inputs: Record<string, string> }> = {};
  for (const [nodeId, entry] of entries) {
    const inputs: Record<string, string> = {};
    for (const error of entry.errors) {
      const input = error.extra_info?.input_name as string | undefined;
      if (input) inputs[input] = `${error.message}: ${error.details}`;
    }
    nodeErrorsState[nodeId] = { message: entry.errors.map((e) => `${e.message}: ${e.details}`).join("\n"), inputs };
  }
  setState((s) => ({ run: { ...s.run, nodeErrors: { ...s.run.nodeErrors, ...nodeErrorsState } } }));
}

export function handleEvent(event: ServerEvent): void {
  const data = event.data as Record<string, unknown>;
  switch (event.type) {
    case "status":
      setState({ queueRemaining: ((data.status as { exec_info: { queue_remaining: number } })?.exec_info?.queue_remaining) ?? 0 });
      break;
    case "execution_start":
      setState((s) => ({ run: { ...emptyRun(), outputs: s.run.outputs, promptId: data.prompt_id as string } }));
      break;
    case "execution_cached":
      setState((s) => ({ run: { ...s.run, cached: (data.nodes as string[]) ?? [] } }));
      break;
    case "executing":
      if (data.node == null) { // the prompt is done: live previews give way to the outputs
        for (const url of Object.values(getState().run.previews)) URL.revokeObjectURL(url);
        setState((s) => ({ run: { ...s.run, executing: null, previews: {} } }));
      } else {
        setState((s) => ({ run: { ...s.run, executing: data.node as string } }));
      }
      break;
    case "progress":
      setState((s) => ({ run: { ...s.run, progress: { ...s.run.progress, [data.node as string]: { value: data.value as number, max: data.max as number } } } }));
      break;
    case "executed": {
      const output = (data.output ?? {}) as { images?: { filename: string; subfolder: string; type: string }[]; text?: string[] };
      const node = data.node as string;
      setState((s) => ({
        run: {
          ...s.run,
          outputs: output.images ? { ...s.run.outputs, [node]: output.images } : s.run.outputs,
          texts: output.text ? { ...s.run.texts, [node]: output.text } : s.run.texts,
        },
        gallery: output.images ? [...output.images, ...s.gallery].slice(0, 200) : s.gallery,
      }));
      break;
    }
    case "execution_error":
      setState((s) => ({
        run: { ...s.run, nodeErrors: { ...s.run.nodeErrors, [data.node_id as string]: { message: String(data.exception_message), inputs: {} } } },
        panel: "errors",
      }));
      notify("error", `${data.node_type} #${data.node_id}: ${data.exception_message}`);
      break;
    case "execution_interrupted":
      notify("info", "Interrupted");
      break;
  }
}

export function showPreview(image: Blob, nodeId: string | null): void {
  const node = nodeId ?? getState().run.executing;
  if (!node) return;
  const url = URL.createObjectURL(image);
  setState((s) => {
    const old = s.run.previews[node];
    if (old) URL.revokeObjectURL(old);
    return { run: { ...s.run, previews: { ...s.run.previews, [node]: url } } };
  });
}

function withJson(name: string): string {
  return name.endsWith(".json") ? name : `${name}.json`;
}

export async function saveActive(): Promise<void> {
  const tab = activeTab();
  if (!tab) return;
  const file = withJson(tab.name);
  try {
    if (tab.savedAs && tab.savedAs !== file) await api.renameWorkflow(tab.savedAs, file);
    await api.saveWorkflow(file, tab.doc);
    setState((s) => ({ tabs: s.tabs.map((t) => (t.id === tab.id ? { ...t, savedAs: file, dirty: false } : t)) }));
    notify("info", `Saved ${file}`);
  } catch (error) {
    notify("error", `Could not save ${file}: ${error}`);
  }
}

export async function openSaved(file: string): Promise<void> {
  const doc = await api.loadWorkflow(file);
  openTab(file.replace(/\.json$/, ""), doc, file);
  reportMissing(doc);
}

function reportMissing(doc: UIWorkflow): void {
  const missing = missingTypes(doc);
  if (missing.length) notify("error", `This workflow uses node types this server lacks: ${missing.join(", ")}. They are kept as placeholders.`);
}

function isApiPrompt(data: unknown): data is ApiPrompt {
  return Boolean(data) && typeof data === "object" && !Array.isArray(data) &&
    Object.values(data as object).every((node) => node && typeof node === "object" && "class_type" in node);
}

export function openData(name: string, data: unknown): void {
  if (data && typeof data === "object" && Array.isArray((data as UIWorkflow).nodes)) {
    openTab(name, data as UIWorkflow);
    reportMissing(data as UIWorkflow);
  } else if (isApiPrompt(data)) {
    const { doc, missing } = fromApiPrompt(data, getState().defs);
    openTab(name, doc);
    if (missing.length) notify("error", `Node types this server lacks were left out: ${missing.join(", ")}`);
  } else {
    notify("error", `${name} holds neither a workflow nor an API prompt`);
  }
}

export async function openFile(file: File): Promise<void> {
  const name = file.name.replace(/\.(json|png)$/i, "");
  try {
    if (file.type === "image/png" || /\.png$/i.test(file.name)) {
      const chunks = pngTextChunks(new Uint8Array(await file.arrayBuffer()));
      const text = chunks.workflow ?? chunks.prompt;
      if (!text) throw new Error("the PNG carries no workflow or prompt");
      openData(name, JSON.parse(text));
    } else {
      openData(name, JSON.parse(await file.text()));
    }
  } catch (error) {
    notify("error", `Could not open ${file.name}: ${error instanceof Error ? error.message : error}`);
  }
}

export function download(name: string, data: unknown): void {
  const url = URL.createObjectURL(new Blob([JSON.stringify(data, null, 2)], { type: "application/json" }));
  const link = Object.assign(document.createElement("a"), { href: url, download: name });
  link.click();
  URL.revokeObjectURL(url);
}

export function exportApi(): void {
  const tab = activeTab();
  if (tab) download(`${tab.name}_api.json`, toApiPrompt(tab.doc, getState().defs));
}
