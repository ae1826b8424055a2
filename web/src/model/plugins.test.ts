// The Messages panel's lines for plug-ins: failures, and what a pack did while loading that it should not.
import { describe, expect, it } from "vitest";
import { pluginMessages } from "./plugins";

describe("plug-in messages", () => {
  it("list failures as errors and each pack's activities per stage as one warning", () => {
    const messages = pluginMessages({
      loaded: ["custom_nodes.leaky"],
      failed: [{ module: "broken.py", error: "ImportError: no" }, { module: "pack", node: "Bad", error: "KeyError" }],
      activities: [
        { module: "leaky", stage: "import", kind: "pip-install", details: ["python -m pip install x"], more: 0 },
        { module: "leaky", stage: "import", kind: "write-outside", details: ["/a", "/b"], more: 3 },
        { module: "leaky", stage: "prestartup", kind: "network", details: ["example.com:443"], more: 0 },
      ],
    });
    expect(messages.map((m) => [m.level, m.text])).toEqual([
      ["error", "Plug-in broken.py failed to load: ImportError: no"],
      ["error", "Node Bad of plug-in pack was skipped: KeyError"],
      ["warning", "Plug-in leaky at import: installed packages with pip: python -m pip install x; "
        + "wrote outside its folder: /a, /b and 3 more"],
      ["warning", "Plug-in leaky in prestartup_script.py: connected to the network: example.com:443"],
    ]);
    expect(new Set(messages.map((m) => m.key)).size).toBe(messages.length);
  });

  it("read an answer without activities (an older server)", () => {
    expect(pluginMessages({ loaded: [], failed: [] })).toEqual([]);
  });
});
