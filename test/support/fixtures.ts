import type { Component, Confirmation, Task } from "../../src/domain/model.js";

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
    answerers: [],
    timeoutAction: "",
    answeredBy: "",
    answerTime: null,
    defaulted: false,
    ...overrides,
  };
}

/** A domain Task for unit tests: RUNNING, attempt 1, no lease, fields overridable. */
export function taskFixture(overrides: Partial<Task> = {}): Task {
  return {
    id: "t",
    owner: "o",
    kind: "",
    label: "",
    status: "running",
    progress: 0,
    checkpoint: null,
    result: null,
    errorMessage: "",
    errorDetails: null,
    cancelRequested: false,
    cancelReason: "",
    requestId: null,
    pendingConfirmationId: null,
    createTime: 0,
    updateTime: 0,
    endTime: null,
    revision: 1,
    attempt: 1,
    leaseDurationMs: null,
    leaseExpireTime: null,
    stallTime: null,
    claimRequestId: null,
    ...overrides,
  };
}

type Of<K extends Component["kind"]> = Extract<Component, { kind: K }>;

/** Domain components for unit tests: the given fields over the defaults a request leaves unset. */
export const domainComponent = {
  button: (id: string, more: Partial<Of<"button">> = {}): Of<"button"> => ({
    id,
    kind: "button",
    label: id,
    action: `act.${id}`,
    style: "unspecified",
    value: null,
    ...more,
  }),
  textInput: (id: string, more: Partial<Of<"text_input">> = {}): Of<"text_input"> => ({
    id,
    kind: "text_input",
    label: "",
    placeholder: "",
    defaultValue: "",
    required: false,
    maxLength: 0,
    pattern: "",
    patternDescription: "",
    ...more,
  }),
  select: (id: string, options: string[], more: Partial<Of<"select">> = {}): Of<"select"> => ({
    id,
    kind: "select",
    label: "",
    options: options.map((value) => ({ value, label: value })),
    defaultValue: "",
    multiple: false,
    required: false,
    ...more,
  }),
  numberInput: (id: string, more: Partial<Of<"number_input">> = {}): Of<"number_input"> => ({
    id,
    kind: "number_input",
    label: "",
    min: null,
    max: null,
    step: null,
    required: false,
    defaultValue: null,
    ...more,
  }),
};
