// One widget per input type: numbers with min/max/step, text (multi-line where declared), toggles, choices,
// and the control-after-generate choice that follows a seed.
import { memo } from "react";
import { CONTROL_VALUES, type WidgetDef } from "../model/nodeDefs";

interface Props {
  nodeId: number;
  widget: WidgetDef;
  value: unknown;
  error?: string;
  onChange: (value: unknown) => void;
}

function NumberInput({ widget, value, onChange, testId }: Props & { testId: string }) {
  const { min, max, step } = widget.options as { min?: number; max?: number; step?: number };
  const isInt = widget.kind === "INT";
  return (
    <input
      className="nodrag" type="number" data-testid={testId} value={String(value ?? "")}
      min={min} max={max} step={step ?? (isInt ? 1 : 0.01)}
      onChange={(event) => {
        const parsed = isInt ? parseInt(event.target.value, 10) : parseFloat(event.target.value);
        if (!Number.isNaN(parsed)) onChange(parsed);
      }}
    />
  );
}

function WidgetInput(props: Props) {
  const { nodeId, widget, value, onChange } = props;
  const testId = `widget-${nodeId}-${widget.name}`;
  switch (widget.kind) {
    case "INT":
    case "FLOAT":
      return <NumberInput {...props} testId={testId} />;
    case "BOOLEAN":
      return <input className="nodrag" type="checkbox" data-testid={testId} checked={Boolean(value)} onChange={(e) => onChange(e.target.checked)} />;
    case "COMBO": {
      const choices = widget.choices.includes(String(value)) ? widget.choices : [String(value), ...widget.choices];
      return (
        <select className="nodrag" data-testid={testId} value={String(value ?? "")} onChange={(e) => onChange(e.target.value)}>
          {choices.map((choice) => <option key={choice} value={choice}>{choice}</option>)}
        </select>
      );
    }
    default:
      return widget.options.multiline
        ? <textarea className="nodrag nowheel" data-testid={testId} value={String(value ?? "")} rows={3} onChange={(e) => onChange(e.target.value)} />
        : <input className="nodrag" data-testid={testId} value={String(value ?? "")} onChange={(e) => onChange(e.target.value)} />;
  }
}

export const Widget = memo(function Widget(props: Props) {
  return (
    <label className={`widget${props.error ? " has-error" : ""}`} title={String(props.widget.options.tooltip ?? "")}>
      <span className="widget-name">{props.widget.name}</span>
      <WidgetInput {...props} />
      {props.error && <span className="input-error" data-testid={`error-${props.nodeId}-${props.widget.name}`}>{props.error}</span>}
    </label>
  );
});

export const ControlWidget = memo(function ControlWidget({ nodeId, of, value, onChange }: {
  nodeId: number; of: string; value: unknown; onChange: (value: unknown) => void;
}) {
  const current = typeof value === "string" ? value : "randomize"; // legacy workflows stored a boolean here
  return (
    <label className="widget control">
      <span className="widget-name">control after generate</span>
      <select className="nodrag" data-testid={`control-${nodeId}-${of}`} value={current} onChange={(e) => onChange(e.target.value)}>
        {CONTROL_VALUES.map((mode) => <option key={mode} value={mode}>{mode}</option>)}
      </select>
    </label>
  );
});
