import { describe, expect, it } from "vitest";
import { queueItemLabel, shardOf } from "./client";

describe("queue labels", () => {
  it("names the worker and the dataset shard of a queue item", () => {
    const item = [12, "0123456789abcdef", {}, { atelier_shard: { run: "r", shard: 2, shards: 5 } }, ["9"]];
    expect(queueItemLabel(item, "ray-1")).toBe("#12 01234567 shard 3/5 on ray-1");
  });

  it("names a dataset run's report prompt", () => {
    const item = [-40, "fedcba9876543210", {}, { atelier_shard: { run: "r", shard: -2, shards: 5 } }, ["9"]];
    expect(queueItemLabel(item)).toBe("#-40 fedcba98 report of 5 shards");
  });

  it("leaves out what an item does not have", () => {
    expect(queueItemLabel([3, "abcdefghij", {}, {}, []])).toBe("#3 abcdefgh");
    expect(shardOf(null)).toBeNull();
    expect(shardOf({ atelier_shard: { run: "r" } })).toBeNull();
  });
});
