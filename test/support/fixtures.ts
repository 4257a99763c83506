import type { Confirmation } from "../../src/domain/model.js";

/** A domain Confirmation for unit tests: PENDING, no components, fields overridable. */
export function confirmationFixture(overrides: Partial<Confirmation> = {}): Confirmation {
  return {
    id: "c-1",
    taskId: "t",
    owner: "o",
    surfaceId: "confirm:c-1",
    title: "",
    components: [],
    state: "pending",
    action: "",
    values: null,
    requestId: null,
    createTime: 0,
    expireTime: null,
    resolveTime: null,
    ...overrides,
  };
}
