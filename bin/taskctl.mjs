#!/usr/bin/env node
// taskctl launcher: runs the compiled CLI (dist/src/cli/taskctl.js, from `npm run build`)
// when present, else registers tsx and runs the TypeScript source, so `npx taskctl` works
// in a fresh clone before any build.
import { existsSync } from 'node:fs';

const root = new URL('../', import.meta.url);
const compiled = new URL('dist/src/cli/taskctl.js', root);

let cli;
if (existsSync(compiled)) {
  cli = await import(compiled.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  cli = await import(new URL('src/cli/taskctl.ts', root).href);
}

const code = await cli.main(process.argv.slice(2));
// Open HTTP/2 sessions would keep the process alive; stdout/stderr pipes are synchronous on POSIX.
process.exit(code);
