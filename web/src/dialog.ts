// The confirmation dialog: a modal <dialog> rendered from the confirmation's components.
// A button click answers with the inputs' values; Escape only closes it (no answer is sent).
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { answerersText } from "../../src/client/decisions.js";
import { Component_Style, type Confirmation } from "../../gen/taskcontrol/v1/task_pb.js";
import { fieldViolations } from "./api.js";
import { byId, h, setText } from "./dom.js";

/** Sends the answer; rejects with a message to show in the dialog. */
export type AnswerFn = (confirmation: Confirmation, action: string, values: JsonObject) => Promise<void>;

/** Why the dialog closed: answered here, answered elsewhere (or ended), or dismissed by the user. */
export type CloseReason = "answered" | "resolved-elsewhere" | "dismissed";

type InputReader = { id: string; read(): JsonValue | undefined; el: HTMLElement; required: boolean };

const FOCUSABLE =
  'button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [href], [tabindex]:not([tabindex="-1"])';

/** Owns #confirm-dialog; shows one confirmation at a time. */
export class ConfirmationDialog {
  private readonly dialog = byId<HTMLDialogElement>("confirm-dialog");
  private readonly form = byId<HTMLFormElement>("confirm-form");
  private readonly title = byId<HTMLHeadingElement>("confirm-title");
  private readonly task = byId<HTMLParagraphElement>("confirm-task");
  private readonly body = byId<HTMLDivElement>("confirm-body");
  private readonly error = byId<HTMLParagraphElement>("confirm-error");
  private current: Confirmation | undefined;
  private inputs: InputReader[] = [];
  private closeReason: CloseReason = "dismissed";

  /**
   * @param answer sends ResolveConfirmation
   * @param onClose told which confirmation closed and why (the page restores focus and
   *   remembers dismissals so it does not reopen the dialog on its own)
   */
  constructor(
    private readonly answer: AnswerFn,
    private readonly onClose: (confirmation: Confirmation, reason: CloseReason) => void,
  ) {
    this.form.addEventListener("submit", (e) => e.preventDefault());
    // Escape fires "cancel": let the dialog close, but it is not an answer.
    this.dialog.addEventListener("cancel", () => {
      this.closeReason = "dismissed";
    });
    this.dialog.addEventListener("close", () => {
      const c = this.current;
      this.current = undefined;
      if (c !== undefined) this.onClose(c, this.closeReason);
      this.closeReason = "dismissed";
    });
    // showModal() makes the page inert; this keeps Tab cycling inside the dialog too.
    this.dialog.addEventListener("keydown", (e) => {
      if (e.key !== "Tab") return;
      const items = [...this.dialog.querySelectorAll<HTMLElement>(FOCUSABLE)].filter(
        (el) => el.offsetParent !== null || el === document.activeElement,
      );
      if (items.length === 0) return;
      const first = items[0]!;
      const last = items[items.length - 1]!;
      if (e.shiftKey && (document.activeElement === first || !this.dialog.contains(document.activeElement))) {
        e.preventDefault();
        last.focus();
      } else if (!e.shiftKey && document.activeElement === last) {
        e.preventDefault();
        first.focus();
      }
    });
  }

  /** The confirmation on screen, if any. */
  showing(): Confirmation | undefined {
    return this.current;
  }

  /** Renders and opens the dialog (replacing whatever it showed). */
  open(confirmation: Confirmation, taskLabel: string): void {
    if (this.current !== undefined) this.close("dismissed");
    this.current = confirmation;
    this.dialog.dataset["confirmationId"] = confirmation.id;
    setText(this.title, confirmation.title || "Confirmation needed");
    setText(this.task, `Task: ${taskLabel}`);
    setText(this.error, "");
    this.render(confirmation);
    this.dialog.showModal();
    const firstInput = this.inputs[0]?.el;
    const primary = this.body.querySelector<HTMLButtonElement>("button.primary");
    (firstInput ?? primary ?? this.body.querySelector<HTMLButtonElement>("button"))?.focus();
  }

  /** Closes the dialog if it shows this confirmation (or any, when id is omitted). */
  close(reason: CloseReason, confirmationId?: string): void {
    if (this.current === undefined) return;
    if (confirmationId !== undefined && this.current.id !== confirmationId) return;
    this.closeReason = reason;
    this.dialog.close();
  }

  private render(c: Confirmation): void {
    this.inputs = [];
    this.body.replaceChildren();
    let buttonRow: HTMLDivElement | undefined;
    const base = `c-${c.id.replace(/[^A-Za-z0-9_-]/g, "_")}`;
    // Who may answer, when the worker named them (the server refuses anyone else).
    const who = answerersText(c);
    if (who !== "") this.body.append(h("p", { class: "answerers", "data-role": "answerers" }, who));
    for (const comp of c.components) {
      const fieldId = `${base}-${comp.id.replace(/[^A-Za-z0-9_-]/g, "_")}`;
      const k = comp.kind;
      if (k.case !== "button") buttonRow = undefined;
      switch (k.case) {
        case "text":
          this.body.append(h("p", { "data-component": comp.id }, k.value.text));
          break;
        case "button": {
          if (buttonRow === undefined) {
            buttonRow = h("div", { class: "button-row" });
            this.body.append(buttonRow);
          }
          const style = k.value.style;
          const cls =
            style === Component_Style.PRIMARY ? "primary" : style === Component_Style.DANGER ? "danger" : "secondary";
          const b = h(
            "button",
            { type: "button", class: cls, "data-action": k.value.action, "data-component": comp.id },
            k.value.label || k.value.action,
          );
          const action = k.value.action;
          b.addEventListener("click", () => void this.submit(action));
          buttonRow.append(b);
          break;
        }
        case "textInput": {
          const v = k.value;
          const input = h("input", {
            id: fieldId,
            type: "text",
            name: comp.id,
            placeholder: v.placeholder || undefined,
            required: v.required,
            "aria-required": v.required ? "true" : undefined,
            "data-component": comp.id,
          });
          input.value = v.defaultValue;
          const label = h("label", { for: fieldId }, v.label || comp.id);
          if (v.required) label.append(h("span", { "aria-hidden": "true" }, " *"));
          // The pattern is RE2, which the browser cannot run: the server checks it and its
          // violation comes back beside the field; the page only says what is expected.
          const hint = [v.patternDescription, v.maxLength > 0 ? `at most ${v.maxLength} characters` : ""].filter(Boolean).join("; ");
          const field = h("div", { class: "field" }, label, input);
          if (hint !== "") {
            const note = h("small", { class: "hint", id: `${fieldId}-hint` }, hint);
            input.setAttribute("aria-describedby", note.id);
            field.append(note);
          }
          this.body.append(field);
          this.inputs.push({ id: comp.id, el: input, required: v.required, read: () => input.value });
          break;
        }
        case "select": {
          const v = k.value;
          const select = h("select", { id: fieldId, name: comp.id, multiple: v.multiple, "data-component": comp.id });
          const known = v.options.some((o) => o.value === v.defaultValue);
          if (!known && !v.multiple) select.append(h("option", { value: "" }, "— choose —"));
          for (const o of v.options) select.append(h("option", { value: o.value }, o.label || o.value));
          if (v.multiple) {
            for (const o of select.options) o.selected = o.value === v.defaultValue;
          } else {
            select.value = known ? v.defaultValue : "";
          }
          const label = h("label", { for: fieldId }, v.label || comp.id);
          if (v.required) label.append(h("span", { "aria-hidden": "true" }, " *"));
          this.body.append(h("div", { class: "field" }, label, select));
          this.inputs.push({
            id: comp.id,
            el: select,
            required: v.required,
            read: () =>
              v.multiple ? [...select.selectedOptions].map((o) => o.value) : select.value === "" ? undefined : select.value,
          });
          break;
        }
        case "numberInput": {
          const v = k.value;
          const input = h("input", {
            id: fieldId,
            type: "number",
            name: comp.id,
            min: v.min === undefined ? undefined : String(v.min),
            max: v.max === undefined ? undefined : String(v.max),
            step: v.step === undefined ? "any" : String(v.step),
            required: v.required,
            "aria-required": v.required ? "true" : undefined,
            "data-component": comp.id,
          });
          if (v.defaultValue !== undefined) input.value = String(v.defaultValue);
          const label = h("label", { for: fieldId }, v.label || comp.id);
          if (v.required) label.append(h("span", { "aria-hidden": "true" }, " *"));
          this.body.append(h("div", { class: "field" }, label, input));
          this.inputs.push({
            id: comp.id,
            el: input,
            required: v.required,
            // What the person typed goes to the server as typed (a bad number comes back as a
            // field violation); only an empty field is left out.
            read: () => (input.value.trim() === "" ? undefined : Number(input.value)),
          });
          break;
        }
        case "checkbox": {
          const v = k.value;
          const box = h("input", { id: fieldId, type: "checkbox", name: comp.id, "data-component": comp.id });
          box.checked = v.defaultValue;
          this.body.append(h("div", { class: "check" }, box, h("label", { for: fieldId }, v.label || comp.id)));
          this.inputs.push({ id: comp.id, el: box, required: false, read: () => box.checked });
          break;
        }
        default:
          break;
      }
    }
  }

  private async submit(action: string): Promise<void> {
    const c = this.current;
    if (c === undefined) return;
    const values: JsonObject = {};
    for (const input of this.inputs) {
      const v = input.read();
      input.el.removeAttribute("aria-invalid");
      if (input.required && (v === undefined || v === "" || (Array.isArray(v) && v.length === 0))) {
        input.el.setAttribute("aria-invalid", "true");
        input.el.setAttribute("aria-describedby", "confirm-error");
        setText(this.error, "Please fill in the required field before answering.");
        input.el.focus();
        return;
      }
      if (v !== undefined) values[input.id] = v;
    }
    const buttons = [...this.body.querySelectorAll<HTMLButtonElement>("button")];
    for (const b of buttons) b.disabled = true;
    setText(this.error, "");
    try {
      await this.answer(c, action, values);
      this.close("answered", c.id);
    } catch (err) {
      if (this.current?.id !== c.id) return;
      // The server names each bad input as `values.<component id>`: show it beside its field
      // and keep the dialog open so the person can correct it.
      const marked = this.markViolations(fieldViolations(err));
      setText(this.error, marked > 0 ? "Please correct the highlighted fields." : err instanceof Error ? err.message : String(err));
      for (const b of buttons) b.disabled = false;
    }
  }

  /** Marks the inputs the violations name; returns how many it marked. */
  private markViolations(violations: { field: string; description: string }[]): number {
    let marked = 0;
    for (const input of this.inputs) {
      const v = violations.find((x) => x.field === `values.${input.id}`);
      const note = input.el.parentElement?.querySelector<HTMLElement>(`.field-error[data-error-for="${CSS.escape(input.id)}"]`);
      if (!v) {
        note?.remove();
        continue;
      }
      const el = note ?? h("span", { class: "field-error", "data-error-for": input.id, role: "alert" });
      el.id = `${input.el.id}-error`;
      setText(el, v.description);
      if (!note) input.el.after(el);
      input.el.setAttribute("aria-invalid", "true");
      input.el.setAttribute("aria-describedby", [el.id, input.el.getAttribute("aria-describedby") ?? ""].filter((x, i, a) => x && a.indexOf(x) === i).join(" "));
      if (marked++ === 0) input.el.focus();
    }
    return marked;
  }
}
