// A tiny element builder: the page builds its DOM with textContent only, never innerHTML,
// so labels, live lines and confirmation texts from workers cannot inject markup.

type Attrs = Record<string, string | boolean | undefined>;

/** Creates an element with attributes (true → present, false/undefined → absent) and children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    el.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children) el.append(child);
  return el;
}

/** Looks up an element the page's HTML must contain; a missing one is a build bug. */
export function byId<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`index.html lacks #${id}`);
  return el as T;
}

/** Sets text only when it changed, so screen readers and selections are not disturbed. */
export function setText(el: Element, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}
