#!/usr/bin/env node
// taskctl launcher: runs the compiled CLI (dist/src/cli/taskctl.js, from `npm run build`)
// when it is newer than every TypeScript source beside it, else registers tsx and runs the
// sources, so `npx taskctl` works in a fresh clone before any build and never runs a stale
// build after an edit.
import { existsSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = new URL('../', import.meta.url);
const compiled = new URL('dist/src/cli/taskctl.js', root);
const sources = new URL('src/cli/taskctl.ts', root);

async function compiledIsCurrent() {
  if (!existsSync(compiled)) return false;
  if (!existsSync(sources)) return true; // an installed package without its sources
  const { newest } = await import(new URL('scripts/build-if-stale.mjs', root).href);
  const built = statSync(compiled).mtimeMs;
  return ['src', 'gen'].every((dir) => newest(fileURLToPath(new URL(dir, root))) <= built);
}

let cli;
if (await compiledIsCurrent()) {
  cli = await import(compiled.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  cli = await import(sources.href);
}

const code = await cli.main(process.argv.slice(2));
// Open HTTP/2 sessions would keep the process alive; stdout/stderr pipes are synchronous on POSIX.
process.exit(code);
