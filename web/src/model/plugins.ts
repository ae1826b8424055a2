// What /api/atelier/plugins says about plug-ins, as lines for the Messages panel: packs that failed to load (or
// one of their nodes), and what a pack did while loading that it should not (Atelier reports it, never blocks it).

export interface PluginFailure {
  module: string;
  node?: string | null;
  error: string;
}

export interface PluginActivity {
  module: string;
  stage: string; // "import" or "prestartup"
  kind: string; // "pip-install", "write-outside", "network" or "subprocess"
  details: string[];
  more: number;
}

export interface PluginsAnswer {
  loaded: string[];
  failed: PluginFailure[];
  activities?: PluginActivity[];
}

export interface PluginMessage {
  key: string;
  level: "error" | "warning";
  text: string;
}

const STAGE_WORDS: Record<string, string> = { import: "at import", prestartup: "in prestartup_script.py" };
const KIND_WORDS: Record<string, string> = {
  "pip-install": "installed packages with pip",
  "write-outside": "wrote outside its folder",
  network: "connected to the network",
  subprocess: "ran commands",
};

function failureText(failure: PluginFailure): string {
  return failure.node
    ? `Node ${failure.node} of plug-in ${failure.module} was skipped: ${failure.error}`
    : `Plug-in ${failure.module} failed to load: ${failure.error}`;
}

function activityText(activity: PluginActivity): string {
  const listed = activity.details.join(", ") + (activity.more ? ` and ${activity.more} more` : "");
  return `${KIND_WORDS[activity.kind] ?? activity.kind}: ${listed}`;
}

/** One line per failure, and one warning per plug-in and stage listing what it did, in the server's order. */
export function pluginMessages(answer: PluginsAnswer): PluginMessage[] {
  const messages: PluginMessage[] = answer.failed.map((failure) => ({
    key: `failed/${failure.module}/${failure.node ?? ""}`, level: "error", text: failureText(failure),
  }));
  const grouped = new Map<string, PluginActivity[]>();
  for (const activity of answer.activities ?? []) {
    const key = `${activity.module}/${activity.stage}`;
    grouped.set(key, [...(grouped.get(key) ?? []), activity]);
  }
  for (const [key, activities] of grouped) {
    const { module, stage } = activities[0];
    const text = `Plug-in ${module} ${STAGE_WORDS[stage] ?? stage}: ${activities.map(activityText).join("; ")}`;
    messages.push({ key: `did/${key}`, level: "warning", text });
  }
  return messages;
}
