// The Node worker SDK of taskcontrol: connect(), client.tasks (the reference page's
// module_sdk.tasks), client.ui (its Builder primitives) and the gateway calls. Real gRPC
// (HTTP/2) through connect-node, on the generated types in gen/.
export { Client, connect, type Answer, type ConnectOptions, type TlsOption, type WatchOptions } from "./client.js";
export {
  Tasks,
  type ConfirmationOptions,
  type CreateOptions,
  type HeartbeatResult,
  type ProgressOptions,
  type ProgressResult,
} from "./tasks.js";
export { TaskCancelled, type BackgroundContext, type BackgroundFn, type BackgroundOptions, type BackgroundTask } from "./background.js";
export {
  AttemptSuperseded,
  ConfirmationNotFound,
  FailedPrecondition,
  InvalidArgument,
  PermissionDenied,
  SequenceOutOfRange,
  TaskControlError,
  TaskNotFound,
  Unavailable,
  type FieldViolation,
} from "./errors.js";
export type { RetryPolicy } from "./retry.js";
export {
  Builder,
  Button,
  Checkbox,
  NumberInput,
  Select,
  Text,
  TextInput,
  ui,
  type ButtonOptions,
  type ButtonStyle,
  type Component,
  type SelectOption,
} from "./ui.js";
export type { ConfirmationView, Decision, OutcomeName, StatusName, TaskView } from "./view.js";
export type { WatchTasksResponse } from "../../../gen/taskcontrol/v1/task_control_service_pb.js";
