// A group on the canvas: a titled, resizable box drawn behind the nodes. Drag it by its title to move it with
// the nodes inside; double-click the title to rename it.
import { type NodeProps, NodeResizer } from "@xyflow/react";
import { memo, useState } from "react";
import { updateGroup } from "../model/groups";
import { activeGraph, editGraph, useStore } from "../state/store";

export type GroupBoxData = { index: number };

export const GroupBox = memo(function GroupBox({ data, selected }: NodeProps) {
  const { index } = data as GroupBoxData;
  const group = useStore((s) => activeGraph(s)?.groups?.[index]);
  const [editing, setEditing] = useState(false);
  if (!group) return null;
  const colour = group.color ?? "#3f789e";
  const rename = (title: string) => {
    setEditing(false);
    if (title && title !== group.title) editGraph((doc) => updateGroup(doc, index, { title }));
  };
  return (
    <div className="group-box" data-testid={`group-${index}`} style={{ borderColor: colour, background: `${colour}33` }}>
      <NodeResizer isVisible={selected} minWidth={120} minHeight={80} color={colour} />
      <div className="group-title" style={{ background: `${colour}aa` }} onDoubleClick={() => setEditing(true)}>
        {editing
          ? <input className="nodrag" autoFocus defaultValue={group.title} onBlur={(e) => rename(e.target.value)}
            onKeyDown={(e) => { if (e.key === "Enter" || e.key === "Escape") (e.target as HTMLInputElement).blur(); }} />
          : group.title}
      </div>
    </div>
  );
});
