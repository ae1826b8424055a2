// Which plug-in usually provides a node type this server lacks, from the server's table of well-known ones
// (/api/atelier/node_sources): the answer says what to install to run a shared workflow.

/** The server's table as node type -> plug-in name, whether it names the pack as text or in an object. */
export function readNodeSources(table: Record<string, unknown>): Record<string, string> {
  const sources: Record<string, string> = {};
  for (const [type, entry] of Object.entries(table ?? {})) {
    if (typeof entry === "string") sources[type] = entry;
    else if (entry && typeof entry === "object") {
      const e = entry as Record<string, unknown>;
      const name = e.pack ?? e.name ?? e.plugin ?? e.repo ?? e.url;
      if (typeof name === "string") sources[type] = name;
    }
  }
  return sources;
}

/** One line about the node types missing here, grouped under the plug-ins known to provide them. */
export function missingMessage(missing: string[], sources: Record<string, string>): string {
  const byPack = new Map<string, string[]>();
  const unknown: string[] = [];
  for (const type of missing) {
    const pack = sources[type];
    if (pack) byPack.set(pack, [...(byPack.get(pack) ?? []), type]);
    else unknown.push(type);
  }
  const parts = [...byPack].map(([pack, types]) => `${types.join(", ")} (usually from ${pack})`);
  if (unknown.length) parts.push(unknown.join(", "));
  return parts.join("; ");
}
