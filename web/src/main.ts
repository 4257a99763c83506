// The task monitor page: watches the owner's tasks and draws a card per task, opens the
// confirmation dialog for pending decisions, and survives server restarts by resuming.
import { ConnectError } from "@connectrpc/connect";
import type { JsonObject } from "@bufbuild/protobuf";
import { TaskStatus, type Confirmation, type Task } from "../../gen/taskcontrol/v1/task_pb.js";
import { TaskState, type TaskChange } from "../../src/client/task-state.js";
import { startWatchLoop, type WatchLoop, type WatchState } from "../../src/client/watch-loop.js";
import { errorReason } from "../../src/client/error-details.js";
import { readTaskHistory } from "../../src/client/decisions.js";
import { createTaskControlClient, createTokenStore, errorText, fieldViolations, isUnauthenticated } from "./api.js";
import { STATUS_FILTERS, TaskCard, taskTitle } from "./cards.js";
import { ConfirmationDialog, type CloseReason } from "./dialog.js";
import { byId, setText } from "./dom.js";

const params = new URLSearchParams(location.search);
const owner = params.get("owner") ?? "";
const tokens = createTokenStore(globalThis.sessionStorage);
const client = createTaskControlClient(location.origin, tokens);
const state = new TaskState();
const cards = new Map<string, TaskCard>();
/** Confirmations answered or dismissed in this tab: not reopened automatically. */
const dismissed = new Set<string>();
const fetching = new Set<string>();

const list = byId<HTMLOListElement>("tasks");
const empty = byId<HTMLParagraphElement>("empty");
const count = byId<HTMLSpanElement>("count");
const filter = byId<HTMLSelectElement>("status-filter");
const connection = byId<HTMLParagraphElement>("connection");
const announcer = byId<HTMLDivElement>("announcer");
const tokenForm = byId<HTMLFormElement>("token-form");
const tokenInput = byId<HTMLInputElement>("token-input");
const tokenWhy = byId<HTMLParagraphElement>("token-why");
const changeToken = byId<HTMLButtonElement>("change-token");
const search = byId<HTMLInputElement>("search");
const kindFilter = byId<HTMLSelectElement>("kind-filter");
const more = byId<HTMLButtonElement>("show-more");

/** Cards drawn at once; "Show more" adds this many again (10,000 tasks stay fast). */
const PAGE = 50;
let shownLimit = PAGE;
/** False until the first snapshot and the first page of history arrived: "Loading", not "No tasks". */
let loaded = false;

setText(byId("scope"), owner === "" ? "All owners' tasks (add ?owner=name for one owner's)" : `Tasks of ${owner}`);
if (params.has("q")) search.value = params.get("q") ?? "";
if (params.has("status") && (params.get("status") ?? "") in STATUS_FILTERS) filter.value = params.get("status")!;
changeToken.hidden = tokens.get() === "";

/** Polite announcement for screen readers (one message at a time, repeated ones re-read). */
function announce(message: string): void {
  announcer.textContent = "";
  setTimeout(() => {
    announcer.textContent = message;
  }, 50);
}

function taskLabel(task: Task): string {
  return taskTitle(task);
}

// ---- cards -------------------------------------------------------------------------------

const cardActions = {
  cancel(task: Task): void {
    const card = cards.get(task.id);
    card?.setBusy(true);
    client
      .cancelTask({ taskId: task.id, reason: "cancelled from the task monitor" })
      .then((res) => {
        if (res.task !== undefined) applyChange(state.upsert(res.task, true));
        announce(`Cancelled ${taskLabel(task)}.`);
      })
      .catch((err: unknown) => {
        if (isUnauthenticated(err)) askForToken("Your token was refused; enter it again.");
        card?.showError(`Could not cancel: ${errorText(err)}`);
      })
      .finally(() => card?.setBusy(false));
  },
  answer(task: Task): void {
    const c = task.pendingConfirmation;
    if (c === undefined) return;
    dismissed.delete(c.id);
    dialog.open(c, taskLabel(task));
  },
  history: (task: Task) => readTaskHistory(client, task.id),
};

/** Whether a task passes the status select, the kind select and the search box. */
function matches(task: Task): boolean {
  const byStatus = STATUS_FILTERS[filter.value] ?? STATUS_FILTERS["all"]!;
  if (!byStatus(task.status)) return false;
  if (kindFilter.value !== "" && task.kind !== kindFilter.value) return false;
  const q = search.value.trim().toLowerCase();
  return q === "" || task.label.toLowerCase().includes(q) || task.kind.toLowerCase().includes(q) || task.id.toLowerCase().includes(q);
}

/** A card changed: redraw it in place if it is on the page, and re-place cards soon. */
function renderCard(taskId: string): void {
  const entry = state.entries.get(taskId);
  const card = cards.get(taskId);
  if (entry !== undefined && card !== undefined) card.update(entry);
  scheduleRender();
}

let renderPending = false;
/** Coalesces bursts of events (a snapshot of 10,000 tasks) into one render per frame. */
function scheduleRender(): void {
  if (renderPending) return;
  renderPending = true;
  requestAnimationFrame(() => {
    renderPending = false;
    renderList();
  });
}

/**
 * Draws the first `shownLimit` matching tasks, newest first, moving only the cards whose
 * place changed (open <details> and focus survive); cards that leave the page are dropped.
 */
function renderList(): void {
  const visible = state.sorted().filter((e) => matches(e.task));
  const page = visible.slice(0, shownLimit);
  const keep = new Set(page.map((e) => e.task.id));
  for (const [id, card] of cards) {
    if (!keep.has(id)) {
      card.el.remove();
      cards.delete(id);
    }
  }
  let at: ChildNode | null = list.firstChild;
  for (const entry of page) {
    let card = cards.get(entry.task.id);
    if (card === undefined) {
      card = new TaskCard(entry, cardActions);
      cards.set(entry.task.id, card);
    }
    if (at === card.el) at = at.nextSibling;
    else list.insertBefore(card.el, at);
  }
  const left = visible.length - page.length;
  more.hidden = left <= 0;
  setText(more, `Show ${Math.min(PAGE, left)} more (${left} not shown)`);
  refreshKinds();
  refreshCounts(visible.length);
  (globalThis as { taskMonitorRendered?: number }).taskMonitorRendered = performance.now();
}

const kindsSeen = new Set<string>();
/** The kind select lists every kind seen so far. */
function refreshKinds(): void {
  let added = false;
  for (const e of state.entries.values()) {
    if (e.task.kind !== "" && !kindsSeen.has(e.task.kind)) {
      kindsSeen.add(e.task.kind);
      added = true;
    }
  }
  if (!added) return;
  const chosen = kindFilter.value || params.get("kind") || "";
  kindFilter.replaceChildren(new Option("Any kind", ""), ...[...kindsSeen].sort().map((k) => new Option(k, k)));
  kindFilter.value = kindsSeen.has(chosen) ? chosen : "";
}

function refreshCounts(shown = [...state.entries.values()].filter((e) => matches(e.task)).length): void {
  const total = state.entries.size;
  empty.hidden = loaded && shown > 0;
  setText(empty, !loaded ? "Loading tasks…" : total === 0 ? "No tasks yet." : "No tasks match this filter.");
  setText(count, !loaded || total === 0 ? "" : shown === total ? `${total} task${total === 1 ? "" : "s"}` : `${shown} of ${total} tasks`);
}

function redrawAll(): void {
  for (const card of cards.values()) card.el.remove();
  cards.clear();
  renderList();
}

/** A filter changed: back to the first page, and the URL says what is shown. */
function filtersChanged(): void {
  shownLimit = PAGE;
  renderList();
  const url = new URL(location.href);
  for (const [key, value, none] of [
    ["status", filter.value, "all"],
    ["kind", kindFilter.value, ""],
    ["q", search.value.trim(), ""],
  ] as const) {
    if (value === none) url.searchParams.delete(key);
    else url.searchParams.set(key, value);
  }
  history.replaceState(null, "", url);
}

filter.addEventListener("change", filtersChanged);
kindFilter.addEventListener("change", filtersChanged);
search.addEventListener("input", filtersChanged);
more.addEventListener("click", () => {
  shownLimit += PAGE;
  renderList();
});

// ---- confirmations -----------------------------------------------------------------------

const dialog = new ConfirmationDialog(
  async (c: Confirmation, action: string, values: JsonObject) => {
    try {
      await client.resolveConfirmation({ confirmationId: c.id, action, values });
      announce("Answer sent.");
    } catch (err) {
      if (err instanceof ConnectError && errorReason(err) === "ALREADY_RESOLVED") {
        announce("This confirmation was already answered elsewhere.");
        dialog.close("resolved-elsewhere", c.id);
        return;
      }
      if (isUnauthenticated(err)) askForToken("Your token was refused; enter it again.");
      // Field violations go back with the error: the dialog marks the fields and stays open.
      if (fieldViolations(err).length > 0) throw err;
      throw new Error(`Could not send the answer: ${errorText(err)}`);
    }
  },
  (c: Confirmation, reason: CloseReason) => {
    // Never reopen on our own what was answered or dismissed here (the answer's
    // confirmation_resolved event may still be on its way).
    dismissed.add(c.id);
    if (reason === "dismissed") announce("Closed without answering; the task is still waiting for you.");
    const card = cards.get(c.taskId);
    if (card !== undefined && card.el.isConnected) card.focusTarget().focus();
    // Another task may be waiting too: offer it next.
    setTimeout(openNextConfirmation, 0);
  },
);

/** Opens the oldest pending confirmation the user has not dismissed, if the dialog is free. */
function openNextConfirmation(): void {
  if (dialog.showing() !== undefined) return;
  const waiting = state
    .sorted()
    .reverse()
    .find((e) => e.task.pendingConfirmation !== undefined && !dismissed.has(e.task.pendingConfirmation.id));
  if (waiting?.task.pendingConfirmation !== undefined) {
    dialog.open(waiting.task.pendingConfirmation, taskLabel(waiting.task));
  }
}

// ---- events ------------------------------------------------------------------------------

function applyChange(change: TaskChange): void {
  switch (change.kind) {
    case "upserted": {
      renderCard(change.taskId);
      const t = state.entries.get(change.taskId)?.task;
      const showing = dialog.showing();
      // A task that ended or resumed no longer waits on the dialog's confirmation.
      if (showing !== undefined && showing.taskId === change.taskId && t?.pendingConfirmation?.id !== showing.id) {
        dialog.close("resolved-elsewhere", showing.id);
      }
      if (t?.pendingConfirmation !== undefined) openNextConfirmation();
      else if (t?.status === TaskStatus.WAITING_CONFIRMATION) fetchTask(change.taskId);
      break;
    }
    case "progress":
      renderCard(change.taskId);
      break;
    case "confirmationRequested": {
      renderCard(change.taskId);
      const t = state.entries.get(change.taskId)?.task;
      announce(`${t === undefined ? "A task" : taskLabel(t)} is waiting for you: ${change.confirmation.title}`);
      openNextConfirmation();
      break;
    }
    case "confirmationResolved":
      renderCard(change.taskId);
      cards.get(change.taskId)?.showOutcome(change.confirmation);
      if (dialog.showing()?.id === change.confirmation.id) {
        dialog.close("resolved-elsewhere", change.confirmation.id);
        announce("The confirmation was answered.");
      }
      break;
    case "unknownTask":
      fetchTask(change.taskId);
      break;
    default:
      break;
  }
}

/** A live event for a task we never saw (e.g. created before a filter change): load it. */
function fetchTask(taskId: string): void {
  if (fetching.has(taskId)) return;
  fetching.add(taskId);
  client
    .getTask({ taskId })
    .then((res) => {
      const task = res.task;
      if (task === undefined) return;
      // Fetched because it waits without a known confirmation: take its pending one.
      const known = state.entries.get(taskId)?.task;
      const fills =
        known !== undefined &&
        known.pendingConfirmation === undefined &&
        task.pendingConfirmation !== undefined &&
        task.revision >= known.revision;
      applyChange(state.upsert(task, !fills));
    })
    .catch(() => undefined)
    .finally(() => fetching.delete(taskId));
}

/** After the snapshot (unfinished tasks only), add recent finished ones from ListTasks. */
async function loadHistory(): Promise<void> {
  try {
    const res = await client.listTasks({ owner, pageSize: 100 });
    for (const task of res.tasks) applyChange(state.upsert(task, true));
    loaded = true;
    showState(lastState);
    scheduleRender();
  } catch (err) {
    if (isUnauthenticated(err)) askForToken("This server needs an access token.");
  }
}

let lastState: WatchState = { kind: "connecting" } as WatchState;

function showState(s: WatchState): void {
  lastState = s;
  // "Live" only once the first page is drawn: until then the page says it is loading.
  connection.dataset["state"] = s.kind === "live" && !loaded ? "loading" : s.kind;
  switch (s.kind) {
    case "connecting":
      setText(connection, "Connecting…");
      break;
    case "live":
      setText(connection, !loaded ? "Loading…" : s.resumed ? "Live (reconnected)" : "Live");
      hideSignIn();
      break;
    case "reconnecting":
      setText(connection, `Reconnecting… (attempt ${s.attempt}, next try in ${Math.ceil(s.retryInMs / 1000)} s)`);
      connection.title = s.reason;
      break;
    case "unauthenticated":
      setText(connection, "Signed out");
      askForToken(tokens.get() === "" ? "This server needs an access token." : "That token was refused; enter a valid one.");
      break;
    case "denied":
      setText(connection, `Not allowed: ${s.reason}`);
      askForToken("This token may not watch these tasks; enter another one.");
      break;
    case "stopped":
      setText(connection, "Stopped");
      break;
  }
}

// ---- token -------------------------------------------------------------------------------

/** The sign-in form replaces the list: no "No tasks" or counts behind it. */
function showSignIn(): void {
  tokenForm.hidden = false;
  for (const el of [list, empty, more, byId("toolbar")]) el.dataset["signin"] = "hidden";
}

function hideSignIn(): void {
  tokenForm.hidden = true;
  for (const el of [list, empty, more, byId("toolbar")]) delete el.dataset["signin"];
}

function askForToken(why: string): void {
  setText(tokenWhy, why);
  if (tokenForm.hidden) {
    showSignIn();
    tokenInput.value = "";
    tokenInput.focus();
  }
}

tokenForm.addEventListener("submit", (e) => {
  e.preventDefault();
  const token = tokenInput.value.trim();
  if (token === "") {
    tokenInput.setAttribute("aria-invalid", "true");
    tokenInput.focus();
    return;
  }
  tokenInput.removeAttribute("aria-invalid");
  tokens.set(token);
  tokenInput.value = "";
  hideSignIn();
  changeToken.hidden = false;
  announce("Token saved for this tab; connecting.");
  watch.restart();
});

changeToken.addEventListener("click", () => askForToken("Enter a new access token."));

// ---- start -------------------------------------------------------------------------------

const watch: WatchLoop = startWatchLoop({
  client,
  owner,
  onResync: () => {
    state.clear();
    redrawAll();
  },
  onEvent: (event) => {
    const change = state.apply(event);
    if (change.kind === "snapshotEnd") {
      scheduleRender();
      void loadHistory();
      return;
    }
    applyChange(change);
  },
  onState: showState,
});
refreshCounts();

// Exposed for debugging in the console and for end-to-end tests.
(globalThis as { taskMonitor?: unknown }).taskMonitor = { state, watch };
