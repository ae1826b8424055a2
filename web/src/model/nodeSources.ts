// Which plug-in usually provides a node type this server lacks, from the server's table of well-known ones
// (/api/atelier/node_sources): the answer says what to install to run a shared workflow.

/** The server's table (execution/workflows/node_sources.py: node type -> plug-in name), its text entries only. */
export function readNodeSources(table: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(Object.entries(table ?? {}).filter((entry): entry is [string, string] => typeof entry[1] === "string"));
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
