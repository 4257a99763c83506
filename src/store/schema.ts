import { BigIntType, EntitySchema } from "@mikro-orm/core";

/**
 * The three tables as MikroORM entity schemas. Property names are the column names, so rows
 * read through the ORM and rows read by the batch writer map to the domain the same way.
 * JSON payloads are text columns written and parsed by the store (identical on both dialects).
 */

/** A row of `tasks`. */
export interface TaskRow {
  id: string;
  owner: string;
  kind: string;
  label: string;
  status: string;
  progress: number;
  checkpoint: string | null;
  result: string | null;
  error_message: string;
  error_details: string | null;
  cancel_requested: boolean;
  cancel_reason: string;
  request_id: string | null;
  pending_confirmation_id: string | null;
  create_time: number;
  update_time: number;
  end_time: number | null;
  revision: number;
  attempt: number;
  lease_duration: number | null;
  lease_expire_time: number | null;
  stall_time: number | null;
  claim_request_id: string | null;
}

/** A row of `confirmations`. */
export interface ConfirmationRow {
  id: string;
  task_id: string;
  owner: string;
  surface_id: string;
  title: string;
  components: string;
  state: string;
  action: string;
  answer_values: string | null;
  request_id: string | null;
  create_time: number;
  expire_time: number | null;
  resolve_time: number | null;
  /** JSON list of principal names and "role:<role>" entries; "[]" for the default rule. */
  answerers: string;
  timeout_action: string;
  answered_by: string;
  answer_time: number | null;
  defaulted: boolean;
}

/** A row of `events`: the persisted event log, one row per sequence number. */
export interface EventRow {
  sequence: number;
  time: number;
  task_id: string;
  owner: string;
  type: string;
  payload: string;
}

const millis = () => ({ type: new BigIntType("number") });

/** `tasks`: one row per task. */
export const TaskSchema = new EntitySchema<TaskRow>({
  name: "TaskRow",
  tableName: "tasks",
  properties: {
    id: { type: "string", primary: true },
    owner: { type: "string" },
    kind: { type: "string" },
    label: { type: "text" },
    status: { type: "string" },
    progress: { type: "double" },
    checkpoint: { type: "text", nullable: true },
    result: { type: "text", nullable: true },
    error_message: { type: "text" },
    error_details: { type: "text", nullable: true },
    cancel_requested: { type: "boolean" },
    cancel_reason: { type: "text" },
    request_id: { type: "string", nullable: true, unique: "tasks_request_id_unique" },
    pending_confirmation_id: { type: "string", nullable: true },
    create_time: millis(),
    update_time: millis(),
    end_time: { ...millis(), nullable: true },
    revision: { type: "integer" },
    attempt: { type: "integer", default: 1 },
    lease_duration: { ...millis(), nullable: true },
    lease_expire_time: { ...millis(), nullable: true },
    stall_time: { ...millis(), nullable: true },
    claim_request_id: { type: "string", nullable: true },
  },
  indexes: [
    { name: "tasks_owner_create_idx", properties: ["owner", "create_time", "id"] },
    { name: "tasks_create_idx", properties: ["create_time", "id"] },
    // ListTasks by status, newest first (and every lookup by status alone).
    { name: "tasks_status_create_idx", properties: ["status", "create_time", "id"] },
    // ListTasks by owner and status, newest first.
    { name: "tasks_owner_status_create_idx", properties: ["owner", "status", "create_time", "id"] },
    // Retention finds the finished tasks that ended before a cut-off without a scan.
    { name: "tasks_end_idx", properties: ["end_time"] },
  ],
});

/** `confirmations`: one row per confirmation, final ones kept for re-attach and audit. */
export const ConfirmationSchema = new EntitySchema<ConfirmationRow>({
  name: "ConfirmationRow",
  tableName: "confirmations",
  properties: {
    id: { type: "string", primary: true },
    task_id: { type: "string" },
    owner: { type: "string" },
    surface_id: { type: "string" },
    title: { type: "text" },
    components: { type: "text" },
    state: { type: "string" },
    action: { type: "string" },
    answer_values: { type: "text", nullable: true },
    request_id: { type: "string", nullable: true },
    create_time: millis(),
    expire_time: { ...millis(), nullable: true },
    resolve_time: { ...millis(), nullable: true },
    answerers: { type: "text", default: "[]" },
    timeout_action: { type: "string", default: "" },
    answered_by: { type: "string", default: "" },
    answer_time: { ...millis(), nullable: true },
    defaulted: { type: "boolean", default: false },
  },
  indexes: [{ name: "confirmations_state_idx", properties: ["state"] }],
  uniques: [{ name: "confirmations_task_request_unique", properties: ["task_id", "request_id"] }],
});

/** `events`: the retained event log. */
export const EventSchema = new EntitySchema<EventRow>({
  name: "EventRow",
  tableName: "events",
  properties: {
    sequence: { ...millis(), primary: true, autoincrement: false },
    time: millis(),
    task_id: { type: "string" },
    owner: { type: "string" },
    type: { type: "string" },
    payload: { type: "text" },
  },
  indexes: [
    { name: "events_time_idx", properties: ["time"] },
    // ListTaskEvents: one task's history in sequence order.
    { name: "events_task_sequence_idx", properties: ["task_id", "sequence"] },
  ],
});

/** Every entity schema, for the ORM's configuration. */
export const ENTITIES = [TaskSchema, ConfirmationSchema, EventSchema];
