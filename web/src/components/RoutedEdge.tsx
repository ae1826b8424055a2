// A link drawn through native reroute points; each point can be dragged (one undo step per drag) or removed with
// a double-click.
import { BaseEdge, type EdgeProps, useReactFlow } from "@xyflow/react";
import { type PointerEvent as ReactPointerEvent, memo } from "react";
import { moveReroute, type Reroute, removeReroute } from "../model/reroutes";
import { editGraph } from "../state/store";

type Point = [number, number];

/** Bezier segments that leave and enter every point horizontally, like the links between sockets. */
function spline(points: Point[]): string {
  let path = `M ${points[0][0]} ${points[0][1]}`;
  for (let i = 1; i < points.length; i++) {
    const [ax, ay] = points[i - 1];
    const [bx, by] = points[i];
    const bend = Math.max(25, Math.abs(bx - ax) * 0.5);
    path += ` C ${ax + bend} ${ay}, ${bx - bend} ${by}, ${bx} ${by}`;
  }
  return path;
}

export const RoutedEdge = memo(function RoutedEdge({ sourceX, sourceY, targetX, targetY, data, style }: EdgeProps) {
  const points = ((data?.points ?? []) as Reroute[]);
  const flow = useReactFlow();
  const drag = (id: number) => (event: ReactPointerEvent) => {
    event.stopPropagation();
    let first = true;
    const move = (e: PointerEvent) => {
      const at = flow.screenToFlowPosition({ x: e.clientX, y: e.clientY });
      editGraph((doc) => moveReroute(doc, id, [Math.round(at.x), Math.round(at.y)]), first);
      first = false;
    };
    const stop = () => {
      window.removeEventListener("pointermove", move);
      window.removeEventListener("pointerup", stop);
    };
    window.addEventListener("pointermove", move);
    window.addEventListener("pointerup", stop);
  };
  const path = spline([[sourceX, sourceY], ...points.map((p) => p.pos), [targetX, targetY]]);
  return (
    <>
      <BaseEdge path={path} style={style} />
      {points.map((point) => (
        <circle key={point.id} className="reroute-dot" data-testid={`reroute-${point.id}`} cx={point.pos[0]}
          cy={point.pos[1]} r={6} fill={String(style?.stroke ?? "#ccc")} onPointerDown={drag(point.id)}
          onDoubleClick={(event) => { event.stopPropagation(); editGraph((doc) => removeReroute(doc, point.id)); }} />
      ))}
    </>
  );
});
