// The server's HTTP API (ComfyUI's routes under /api/).
import type { PluginsAnswer } from "../model/plugins";
import type { ApiPrompt, ObjectInfo, UIWorkflow } from "../model/types";

const BASE = "api";

export interface ApiError {
  type: string;
  message: string;
  details: string;
  extra_info: Record<string, unknown>;
}

export interface NodeErrors {
  [nodeId: string]: { errors: ApiError[]; class_type: string; dependent_outputs: string[] };
}

export class RequestFailed extends Error {
  constructor(readonly status: number, readonly error: ApiError | null, readonly nodeErrors: NodeErrors) {
    super(error ? `${error.message}: ${error.details}` : `HTTP ${status}`);
  }
}

/** The error of a failed request, also when a route answers with a bare message. */
function apiError(error: unknown): ApiError | null {
  if (!error) return null;
  if (typeof error === "string") return { type: "", message: error, details: "", extra_info: {} };
  const e = error as Partial<ApiError>;
  return { type: e.type ?? "", message: e.message ?? "", details: e.details ?? "", extra_info: e.extra_info ?? {} };
}

async function request<T>(path: string, init?: RequestInit): Promise<T> {
  const response = await fetch(`${BASE}/${path}`, init);
  const text = await response.text();
  const body = text ? JSON.parse(text) : null;
  if (!response.ok) throw new RequestFailed(response.status, apiError(body?.error), body?.node_errors ?? {});
  return body as T;
}

function post<T>(path: string, body: unknown): Promise<T> {
  return request<T>(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
}

const encodePath = (path: string) => encodeURIComponent(path);

export const api = {
  objectInfo: () => request<ObjectInfo>("object_info"),
  queuePrompt: (prompt: ApiPrompt, clientId: string, workflow: UIWorkflow) =>
    post<{ prompt_id: string; number: number; node_errors: NodeErrors }>("prompt", {
      prompt, client_id: clientId, extra_data: { extra_pnginfo: { workflow } },
    }),
  queue: () => request<QueueState>("queue"),
  history: (maxItems = 50) => request<Record<string, HistoryEntry>>(`history?max_items=${maxItems}`),
  deleteFromQueue: (ids: string[]) => post<null>("queue", { delete: ids }),
  clearQueue: () => post<null>("queue", { clear: true }),
  interrupt: () => post<null>("interrupt", {}),
  clearHistory: () => post<null>("history", { clear: true }),
  defaultWorkflow: () => request<UIWorkflow>("atelier/default_workflow"),
  /** The server's one conversion of a UI workflow into an API prompt (a 400 names the node and the problem). */
  convert: (workflow: UIWorkflow) => post<Converted>("atelier/convert", { workflow }),
  /** The workflow with its legacy group nodes turned into subgraphs, and a line per group node it changed. */
  upgradeWorkflow: (workflow: UIWorkflow) =>
    post<{ workflow: UIWorkflow; changes: string[] }>("atelier/upgrade_workflow", { workflow }),
  /** Which plug-in usually provides a node type, for the well-known ones. */
  nodeSources: () => request<Record<string, unknown>>("atelier/node_sources"),
  plugins: () => request<PluginsAnswer>("atelier/plugins"),
  listWorkflows: async () => {
    try {
      return await request<string[]>("userdata?dir=workflows&recurse=true");
    } catch (error) {
      if (error instanceof RequestFailed && error.status === 404) return [];
      throw error;
    }
  },
  loadWorkflow: (name: string) => request<UIWorkflow>(`userdata/${encodePath(`workflows/${name}`)}`),
  saveWorkflow: (name: string, workflow: UIWorkflow) =>
    request<string>(`userdata/${encodePath(`workflows/${name}`)}?overwrite=true`, { method: "POST", body: JSON.stringify(workflow) }),
  deleteWorkflow: (name: string) => fetch(`${BASE}/userdata/${encodePath(`workflows/${name}`)}`, { method: "DELETE" }),
  renameWorkflow: (from: string, to: string) =>
    request<string>(`userdata/${encodePath(`workflows/${from}`)}/move/${encodePath(`workflows/${to}`)}?overwrite=false`, { method: "POST" }),
  uploadImage: async (file: File) => {
    const form = new FormData();
    form.append("image", file);
    return request<UploadedImage>("upload/image", { method: "POST", body: form });
  },
  /** A painted mask: the server copies its alpha into ``original`` and stores the result as a new input image. */
  uploadMask: async (mask: Blob, name: string, original: ImageRef) => {
    const form = new FormData();
    form.append("image", mask, name);
    form.append("subfolder", "clipspace");
    form.append("type", "input");
    form.append("original_ref", JSON.stringify(original));
    return request<UploadedImage>("upload/mask", { method: "POST", body: form });
  },
};

/** A conversion warning: a line of text, or an object naming the node it concerns. */
export type ConvertWarning = string | { message?: string; node_id?: string; node?: string; [key: string]: unknown };

export interface Converted {
  prompt: ApiPrompt;
  warnings?: ConvertWarning[];
}

export interface UploadedImage {
  name: string;
  subfolder: string;
  type: string;
}

/** An image named as LoadImage names it: "sub/dir/name.png", or with ComfyUI's folder note "name.png [output]". */
export function inputImage(name: string): ImageRef {
  const annotated = /^(.*) \[(input|output|temp)\]$/.exec(name);
  const path = annotated ? annotated[1] : name;
  const slash = path.lastIndexOf("/");
  return { filename: path.slice(slash + 1), subfolder: slash < 0 ? "" : path.slice(0, slash),
    type: annotated ? annotated[2] : "input" };
}

export interface ImageRef {
  filename: string;
  subfolder: string;
  type: string;
}

export interface HistoryEntry {
  prompt: [number, string, ApiPrompt, Record<string, unknown>, string[]];
  outputs: Record<string, { images?: ImageRef[]; text?: string[] }>;
  status: { status_str: string; completed: boolean; messages: [string, Record<string, unknown>][] };
  worker?: WorkerInfo; // Atelier's: which runner ran it
}

// A worker process, Ray actor or the server itself (GET /api/atelier/workers, history's ``worker``).
export interface WorkerInfo {
  name: string;
  kind: string;
  host?: string;
  device?: string;
  gpu_ids?: string[];
}

export interface QueueState {
  queue_running: unknown[][];
  queue_pending: unknown[][];
  running_on?: Record<string, string>; // Atelier's: prompt id -> the worker running it
}

// A dataset run's shard, as the server marks its prompts' extra_data.
export interface ShardInfo {
  run: string;
  shard: number;
  shards: number;
}

export function shardOf(extraData: unknown): ShardInfo | null {
  const shard = (extraData as { atelier_shard?: ShardInfo } | null)?.atelier_shard;
  return shard && typeof shard.shard === "number" ? shard : null;
}

// "shard k/n" for a dataset run's shard prompt, "report of n shards" for the prompt that merges them.
export function shardLabel(shard: ShardInfo): string {
  return shard.shard >= 0 ? `shard ${shard.shard + 1}/${shard.shards}` : `report of ${shard.shards} shards`;
}

export function queueItemLabel(item: unknown[], worker?: string): string {
  const shard = shardOf(item[3]);
  const parts = [`#${String(item[0])}`, String(item[1]).slice(0, 8)];
  if (shard) parts.push(shardLabel(shard));
  if (worker) parts.push(`on ${worker}`);
  return parts.join(" ");
}

export function viewUrl(image: ImageRef): string {
  const query = new URLSearchParams({ filename: image.filename, subfolder: image.subfolder, type: image.type });
  return `${BASE}/view?${query}`;
}
