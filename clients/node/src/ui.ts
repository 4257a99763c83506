// The UI primitives of a confirmation surface, as the reference page's `module_sdk.ui`:
// a Builder and the components it holds. Each component is the contract's Component message.
import { create, isMessage, type JsonObject } from "@bufbuild/protobuf";
import {
  Component_OptionSchema,
  Component_Style,
  ComponentSchema,
  type Component,
} from "../../../gen/taskcontrol/v1/task_pb.js";

export type { Component };

/** A button's rendering hint. */
export type ButtonStyle = "primary" | "secondary" | "danger";

const STYLES: Readonly<Record<ButtonStyle, Component_Style>> = {
  primary: Component_Style.PRIMARY,
  secondary: Component_Style.SECONDARY,
  danger: Component_Style.DANGER,
};

/** Static text shown on the surface. */
export function Text(id: string, text: string): Component {
  return create(ComponentSchema, { id, kind: { case: "text", value: { text } } });
}

/** Options of Button. */
export interface ButtonOptions {
  /** The button's text. */
  readonly label: string;
  /** The action the worker receives when it is clicked (required by the server). */
  readonly action: string;
  /** Merged into the answer's values when this button is clicked. */
  readonly value?: JsonObject;
  /** Rendering hint. @default the UI's default look */
  readonly style?: ButtonStyle;
}

/** A button: clicking it answers the confirmation with its action (and value). */
export function Button(id: string, options: ButtonOptions): Component {
  let style = Component_Style.UNSPECIFIED;
  if (options.style !== undefined) {
    const known = STYLES[options.style];
    if (known === undefined) throw new RangeError(`unknown button style "${options.style}"; use primary, secondary or danger`);
    style = known;
  }
  return create(ComponentSchema, {
    id,
    kind: { case: "button", value: { label: options.label, action: options.action, style, value: options.value } },
  });
}

/** Options of TextInput. */
export interface TextInputOptions {
  readonly label?: string;
  readonly placeholder?: string;
  readonly defaultValue?: string;
  /** An answer must carry a non-empty string for it. @default false */
  readonly required?: boolean;
  /** Longest value accepted, in characters. @default the server's 4,096 */
  readonly maxLength?: number;
  /** An RE2 pattern the whole value must match. @default any */
  readonly pattern?: string;
  /** Shown when the value does not match the pattern. */
  readonly patternDescription?: string;
}

/** A single-line text input; its answer value is a string keyed by `id`. */
export function TextInput(id: string, options: TextInputOptions = {}): Component {
  return create(ComponentSchema, { id, kind: { case: "textInput", value: { ...options } } });
}

/** One choice of a Select: a value, or a value and the text shown. */
export type SelectOption = string | { readonly value: string; readonly label?: string };

/** Options of Select. */
export interface SelectOptions {
  readonly label?: string;
  /** The choices (1-100). */
  readonly options: readonly SelectOption[];
  /** The initially chosen option's value. */
  readonly defaultValue?: string;
  /** The value is a list of the chosen options' values. @default false */
  readonly multiple?: boolean;
  /** An answer must choose an option. @default false */
  readonly required?: boolean;
}

/** A choice among options; its answer value is the chosen option's value (a list when multiple). */
export function Select(id: string, options: SelectOptions): Component {
  const choices = options.options.map((o) =>
    create(Component_OptionSchema, typeof o === "string" ? { value: o } : { value: o.value, label: o.label ?? "" }),
  );
  return create(ComponentSchema, {
    id,
    kind: { case: "select", value: { ...options, options: choices } },
  });
}

/** Options of Checkbox. */
export interface CheckboxOptions {
  readonly label?: string;
  readonly defaultValue?: boolean;
}

/** A yes/no checkbox; its answer value is a boolean keyed by `id`. */
export function Checkbox(id: string, options: CheckboxOptions = {}): Component {
  return create(ComponentSchema, { id, kind: { case: "checkbox", value: { ...options } } });
}

/** Options of NumberInput; unset bounds mean none. */
export interface NumberInputOptions {
  readonly label?: string;
  readonly min?: number;
  readonly max?: number;
  /** The value must be min (or 0) plus a whole multiple of step. */
  readonly step?: number;
  /** An answer must carry a number for it. @default false */
  readonly required?: boolean;
  readonly defaultValue?: number;
}

/** A number input; its answer value is a number keyed by `id`. */
export function NumberInput(id: string, options: NumberInputOptions = {}): Component {
  return create(ComponentSchema, { id, kind: { case: "numberInput", value: { ...options } } });
}

/** Options of a Builder. */
export interface BuilderOptions {
  /** The dialog's heading (the request's title). @default "" */
  readonly title?: string;
}

/** Collects the components of a confirmation surface, in order. */
export class Builder {
  /** The dialog's heading. */
  title: string;
  /** The components added so far. */
  readonly components: Component[] = [];

  constructor(options: BuilderOptions = {}) {
    this.title = options.title ?? "";
  }

  /** Appends components and returns the builder, so calls chain. */
  add(...components: Component[]): this {
    for (const c of components) {
      if (!isMessage(c, ComponentSchema)) throw new TypeError("Builder.add takes components made by Text, Button, TextInput, Select, Checkbox or NumberInput");
      this.components.push(c);
    }
    return this;
  }
}

/** The primitives as `client.ui`. */
export const ui = Object.freeze({ Builder, Text, Button, TextInput, Select, Checkbox, NumberInput });
