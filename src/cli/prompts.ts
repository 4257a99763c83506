// The questions `taskctl watch` asks for a confirmation's inputs, one component at a time.
// The server is the judge of an answer (its RE2 patterns, bounds, steps): after a field
// violation the watch asks again for the fields the server named (see reaskFields).
import type { JsonObject } from "@bufbuild/protobuf";
import type { Confirmation } from "../../gen/taskcontrol/v1/task_pb.js";

/** Asks one question and resolves with the line typed. */
export type Ask = (question: string) => Promise<string>;
/** Prints one line. */
export type Say = (line: string) => void;

/**
 * Asks for each input of `c` (only those in `only`, when given) and writes the answers into
 * `values`: text as typed (Enter keeps the default), a select by number (a multiple select
 * by comma-separated numbers), a checkbox y/n, a number as a number (asked again until it
 * parses). Required inputs are asked until given.
 */
export async function promptInputs(c: Confirmation, ask: Ask, say: Say, values: JsonObject, only?: ReadonlySet<string>): Promise<void> {
  for (const comp of c.components) {
    if (only !== undefined && !only.has(comp.id)) continue;
    const k = comp.kind;
    const name = (label: string) => label || comp.id;
    switch (k.case) {
      case "textInput": {
        const v = k.value;
        const rules = [v.patternDescription, v.maxLength > 0 ? `at most ${v.maxLength} characters` : ""].filter(Boolean).join("; ");
        for (;;) {
          const hint = v.defaultValue ? ` [${v.defaultValue}]` : "";
          const a = (await ask(`  ${name(v.label)}${v.required ? " (required)" : ""}${rules ? ` (${rules})` : ""}${hint}: `)) || v.defaultValue;
          if (v.required && a.trim() === "") continue;
          if (a === "") delete values[comp.id];
          else values[comp.id] = a;
          break;
        }
        break;
      }
      case "select": {
        const v = k.value;
        v.options.forEach((o, i) => say(`    ${i + 1}) ${o.label || o.value}`));
        const def = v.options.findIndex((o) => o.value === v.defaultValue);
        const range = `1-${v.options.length}`;
        for (;;) {
          const a = (await ask(`  ${name(v.label)} [${v.multiple ? `${range}, comma-separated` : range}]${def >= 0 ? ` (${def + 1})` : ""}${v.required ? " (required)" : ""}: `)).trim();
          const picks = a === "" ? (def >= 0 ? [def] : []) : a.split(",").map((x) => Number(x.trim()) - 1);
          const chosen = picks.map((i) => v.options[i]?.value);
          if (chosen.some((x) => x === undefined)) continue;
          if (v.required && chosen.length === 0) continue;
          if (!v.multiple && chosen.length > 1) continue;
          if (v.multiple) values[comp.id] = chosen as string[];
          else if (chosen.length === 1) values[comp.id] = chosen[0]!;
          else delete values[comp.id];
          break;
        }
        break;
      }
      case "checkbox": {
        const a = (await ask(`  ${name(k.value.label)} [${k.value.defaultValue ? "Y/n" : "y/N"}]: `)).trim().toLowerCase();
        values[comp.id] = a === "" ? k.value.defaultValue : a.startsWith("y");
        break;
      }
      case "numberInput": {
        const v = k.value;
        const bounds = [v.min !== undefined ? `min ${v.min}` : "", v.max !== undefined ? `max ${v.max}` : "", v.step !== undefined ? `step ${v.step}` : ""]
          .filter(Boolean)
          .join(", ");
        for (;;) {
          const hint = v.defaultValue !== undefined ? ` [${v.defaultValue}]` : "";
          const a = (await ask(`  ${name(v.label)}${v.required ? " (required)" : ""}${bounds ? ` (${bounds})` : ""}${hint}: `)).trim();
          if (a === "") {
            if (v.defaultValue !== undefined) values[comp.id] = v.defaultValue;
            else if (v.required) continue;
            else delete values[comp.id];
            break;
          }
          const n = Number(a);
          if (!Number.isFinite(n)) {
            say("    a number, please");
            continue;
          }
          values[comp.id] = n;
          break;
        }
        break;
      }
      default:
        break;
    }
  }
}

/**
 * The input ids a refused answer's field violations name (`values.<id>`), after printing
 * each violation; empty when the refusal is about something else.
 */
export function reaskFields(c: Confirmation, violations: readonly { field: string; description: string }[], say: Say): Set<string> {
  const ids = new Set(c.components.map((x) => x.id));
  const out = new Set<string>();
  for (const v of violations) {
    const id = v.field.startsWith("values.") ? v.field.slice("values.".length) : "";
    if (!ids.has(id)) continue;
    say(`  ${id}: ${v.description}`);
    out.add(id);
  }
  return out;
}
