import { describe, expect, it } from "vitest";
import { conditionSentences } from "./conditions";

describe("conditionSentences", () => {
  it("says each condition in words, with its message or else its reason", () => {
    expect(
      conditionSentences([
        { type: "AcceptingConnection", status: "True", reason: "DatabaseAcceptingConnectionRequest", message: null },
        { type: "Ready", status: "False", reason: "ReplicaNotReady", message: "1 of 3 replicas are ready" },
        { type: "Provisioned", status: "Unknown" },
      ]),
    ).toEqual([
      "Is accepting connection (DatabaseAcceptingConnectionRequest)",
      "Is not ready: 1 of 3 replicas are ready",
      "Is not provisioned",
    ]);
  });

  it("has nothing to say before the operator reports", () => {
    expect(conditionSentences(undefined)).toEqual([]);
    expect(conditionSentences([])).toEqual([]);
  });
});
