// Builds the task monitor: bundles web/src/main.ts (and its imports from gen/ and
// src/cli/) with esbuild into web/dist/app.js, and copies index.html and styles.css.
// Usage: node web/build.mjs [--watch] [--no-minify] [--outdir DIR]
import { copyFile, mkdir, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as esbuild from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));

/** Builds the page into outdir (default web/dist); returns the esbuild result. */
export async function buildWeb({ outdir = join(here, 'dist'), minify = true, watch = false } = {}) {
  const out = resolve(outdir);
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });
  await copyFile(join(here, 'src', 'index.html'), join(out, 'index.html'));
  const options = {
    absWorkingDir: resolve(here, '..'),
    entryPoints: [
      { in: join(here, 'src', 'main.ts'), out: 'app' },
      { in: join(here, 'src', 'styles.css'), out: 'app' },
    ],
    outdir: out,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022', 'chrome109', 'firefox115', 'safari16'],
    minify,
    sourcemap: true,
    legalComments: 'none',
    logLevel: 'warning',
    tsconfig: join(here, 'tsconfig.json'),
  };
  if (watch) {
    const ctx = await esbuild.context(options);
    await ctx.watch();
    return ctx;
  }
  return esbuild.build(options);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      watch: { type: 'boolean', default: false },
      'no-minify': { type: 'boolean', default: false },
      outdir: { type: 'string' },
    },
  });
  await buildWeb({ outdir: values.outdir, minify: !values['no-minify'], watch: values.watch });
  if (!values.watch) console.log(`web: built ${values.outdir ?? 'web/dist'}`);
}
