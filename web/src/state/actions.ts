// What the buttons and shortcuts do: queueing, saving and opening workflows, importing files, and applying
// the server's events to the run state.
import { api, type ConvertWarning, RequestFailed } from "../api/client";
import type { ServerEvent } from "../api/socket";
import { applyControls } from "../model/controls";
import { fromApiPrompt } from "../model/fromApi";
import { buildNodeDef } from "../model/nodeDefs";
import { missingMessage, readNodeSources } from "../model/nodeSources";
import { pluginMessages } from "../model/plugins";
import { pngTextChunks } from "../model/png";
import { subgraphById, subgraphsOf } from "../model/subgraphs";
import { type ApiPrompt, type UIWorkflow, VIRTUAL_NODES } from "../model/types";
import { readWorkflow, writeWorkflow } from "../model/workflowFile";
import { activeTab, editDoc, emptyRun, getState, notify, openTab, setState } from "./store";

export async function loadDefinitions(): Promise<void> {
  const info = await api.objectInfo();
  const defs = Object.fromEntries(Object.values(info).map((node) => [node.name, buildNodeDef(node)]));
  setState({ defs });
  api.plugins().then((p) => setState({ plugins: pluginMessages(p) })).catch(() => undefined);
  api.nodeSources().then((table) => setState({ nodeSources: readNodeSources(table) })).catch(() => undefined);
}

const missingByDoc = new WeakMap<UIWorkflow, string[]>();

/** Node types of the document (subgraphs included) that this server does not have. */
export function missingTypes(doc: UIWorkflow): string[] {
  const defs = getState().defs;
  const cached = missingByDoc.get(doc);
  if (cached) return cached;
  const subgraphs = subgraphsOf(doc);
  const groupNodes = Object.keys((doc.extra?.groupNodes ?? {}) as object); // legacy group nodes: the server runs them
  const isGroupNode = (type: string) => groupNodes.some((name) => type === `workflow>${name}` || type === `workflow/${name}`);
  const known = (type: string) => Boolean(defs[type]) || VIRTUAL_NODES.has(type) || Boolean(subgraphById(doc, type))
    || isGroupNode(type);
  const types = new Set([doc.nodes, ...subgraphs.map((d) => d.nodes)].flatMap((nodes) => nodes.map((n) => n.type)));
  const missing = [...types].filter((type) => !known(type));
  if (Object.keys(defs).length) missingByDoc.set(doc, missing);
  return missing;
}

function warningText(warning: ConvertWarning): string {
  if (typeof warning === "string") return warning;
  const node = warning.node_id ?? warning.node;
  return `${node ? `Node #${node}: ` : ""}${warning.message ?? JSON.stringify(warning)}`;
}

function requestError(error: unknown): string {
  if (!(error instanceof RequestFailed)) return String(error);
  return error.error ? `${error.error.message}${error.error.details ? `: ${error.error.details}` : ""}` : error.message;
}

/** The server converts the document into an API prompt; its warnings go to the Messages panel. */
async function convertActive(): Promise<{ prompt: ApiPrompt; doc: UIWorkflow } | null> {
  const tab = activeTab();
  if (!tab) return null;
  const doc = writeWorkflow(tab.doc);
  try {
    const converted = await api.convert(doc);
    for (const warning of converted.warnings ?? []) notify("warning", warningText(warning));
    return { prompt: converted.prompt, doc };
  } catch (error) {
    if (error instanceof RequestFailed) showNodeErrors(error.nodeErrors, error.error?.extra_info?.node_id, requestError(error));
    notify("error", `Could not convert the workflow: ${requestError(error)}`);
    setState({ panel: "errors" });
    return null;
  }
}

export async function queuePrompt(): Promise<void> {
  const { defs } = getState();
  // Cleared before sending: a small prompt can finish (and report) before its answer arrives.
  setState((s) => ({ run: { ...s.run, nodeErrors: {} } }));
  const converted = await convertActive();
  if (!converted) return;
  try {
    const socket = (window as unknown as { atelierSocket?: { clientId: string } }).atelierSocket;
    const answer = await api.queuePrompt(converted.prompt, socket?.clientId ?? "", converted.doc);
    showNodeErrors(answer.node_errors);
    editDoc((doc) => applyControls(doc, defs), false);
  } catch (error) {
    if (error instanceof RequestFailed) showNodeErrors(error.nodeErrors);
    notify("error", requestError(error));
    setState({ panel: "errors" });
  }
}

/** Errors keyed by node id (a path such as "12:5" inside subgraphs); ``nodeId`` and ``message``: one more. */
function showNodeErrors(nodeErrors: Record<string, { errors: { message: string; details: string; extra_info: Record<string, unknown> }[] }>,
                        nodeId?: unknown, message?: string): void {
  const entries = Object.entries(nodeErrors ?? {});
  const nodeErrorsState: Record<string, { message: string; inputs: Record<string, string> }> = {};
  if (nodeId != null && message) nodeErrorsState[String(nodeId)] = { message, inputs: {} };
  if (!entries.length && !Object.keys(nodeErrorsState).length) return;
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
    await api.saveWorkflow(file, writeWorkflow(tab.doc));
    setState((s) => ({ tabs: s.tabs.map((t) => (t.id === tab.id ? { ...t, savedAs: file, dirty: false } : t)) }));
    notify("info", `Saved ${file}`);
  } catch (error) {
    notify("error", `Could not save ${file}: ${error}`);
  }
}

export async function openSaved(file: string): Promise<void> {
  const doc = readWorkflow(await withSubgraphsForGroupNodes(await api.loadWorkflow(file)));
  openTab(file.replace(/\.json$/, ""), doc, file);
  reportMissing(doc);
}

function reportMissing(doc: UIWorkflow): void {
  const missing = missingTypes(doc);
  if (!missing.length) return;
  const listed = missingMessage(missing, getState().nodeSources);
  notify("error", `This workflow uses node types this server lacks: ${listed}. They are kept as placeholders.`);
}

function isApiPrompt(data: unknown): data is ApiPrompt {
  return Boolean(data) && typeof data === "object" && !Array.isArray(data) &&
    Object.values(data as object).every((node) => node && typeof node === "object" && "class_type" in node);
}

function hasGroupNodes(workflow: UIWorkflow): boolean {
  const groupNodes = workflow.extra?.groupNodes;
  return Boolean(groupNodes) && typeof groupNodes === "object" && Object.keys(groupNodes as object).length > 0;
}

/** A workflow with legacy group nodes comes back with subgraphs in their place (the server's one expansion of
 * them, so it runs as before); the Messages panel says how many. If the server cannot, it opens as it is. */
async function withSubgraphsForGroupNodes(workflow: UIWorkflow): Promise<UIWorkflow> {
  if (!hasGroupNodes(workflow)) return workflow;
  try {
    const { workflow: upgraded, changes } = await api.upgradeWorkflow(workflow);
    if (changes.length) {
      const count = changes.length === 1 ? "1 legacy group node was" : `${changes.length} legacy group nodes were`;
      notify("info", `${count} opened as subgraphs`);
    }
    return upgraded;
  } catch (error) {
    notify("warning", `The legacy group nodes stay as they are: ${requestError(error)}`);
    return workflow;
  }
}

export async function openData(name: string, data: unknown): Promise<void> {
  if (data && typeof data === "object" && Array.isArray((data as UIWorkflow).nodes)) {
    const doc = readWorkflow(await withSubgraphsForGroupNodes(data as UIWorkflow));
    openTab(name, doc);
    reportMissing(doc);
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
      await openData(name, JSON.parse(text));
    } else {
      await openData(name, JSON.parse(await file.text()));
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

export function exportWorkflow(): void {
  const tab = activeTab();
  if (tab) download(`${tab.name}.json`, writeWorkflow(tab.doc));
}

export async function exportApi(): Promise<void> {
  const tab = activeTab();
  const converted = await convertActive();
  if (tab && converted) download(`${tab.name}_api.json`, converted.prompt);
}
