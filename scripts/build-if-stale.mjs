// `npm start`'s prestart: runs `npm run build` only when a source of the build (src/, gen/,
// web/src/, the build's configuration, the dependencies) is newer than the last build, so a
// start with nothing changed serves at once. The stamp is dist/.build-stamp, written after a
// build that succeeded.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
const stamp = join(root, 'dist', '.build-stamp');
const INPUTS = ['src', 'gen', 'web/src', 'web/build.mjs', 'web/tsconfig.json', 'tsconfig.json', 'package.json', 'package-lock.json'];
const OUTPUTS = ['dist/src/main.js', 'dist/src/cli/taskctl.js', 'web/dist/app.js', 'web/dist/index.html'];

/** The newest modification time under a file or directory (0 when it does not exist). */
export function newest(path) {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let max = st.mtimeMs;
  for (const entry of readdirSync(path)) max = Math.max(max, newest(join(path, entry)));
  return max;
}

export function isStale() {
  if (!existsSync(stamp) || OUTPUTS.some((o) => !existsSync(join(root, o)))) return true;
  const built = statSync(stamp).mtimeMs;
  return INPUTS.some((i) => newest(join(root, i)) > built);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (isStale()) {
    const started = Date.now();
    execFileSync(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'inherit' });
    mkdirSync(join(root, 'dist'), { recursive: true });
    // Stamped with the time the build started: a source saved during the build is stale.
    writeFileSync(stamp, `${new Date(started).toISOString()}\n`);
    const t = new Date(started);
    utimesSync(stamp, t, t);
  }
}
