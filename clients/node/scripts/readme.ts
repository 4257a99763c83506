// Fills the README's example blocks from the example files they name, so the README shows
// exactly the code the tests run:
//   <!-- include: examples/installer.ts -->
//   ```ts … ```
//   <!-- end include -->
// Usage: node --import tsx clients/node/scripts/readme.ts [--check]  (test/sdk/readme.test.ts checks it too)
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/** The documents with include blocks; each names files relative to its own directory. */
export const DOCUMENTS = [
  fileURLToPath(new URL("../README.md", import.meta.url)),
  fileURLToPath(new URL("../../python/TESTING.md", import.meta.url)),
];

const BLOCK = /(<!-- include: (\S+) -->\n)[\s\S]*?(<!-- end include -->)/g;

/** The README with every include block holding its file as a fenced code block. */
export function renderIncludes(readme: string, read: (path: string) => string): string {
  return readme.replace(BLOCK, (_all, open: string, path: string, close: string) => {
    const lang = path.endsWith(".py") ? "python" : "ts";
    return `${open}\`\`\`${lang}\n${read(path).trimEnd()}\n\`\`\`\n${close}`;
  });
}

/** The paths the README includes, in order. */
export function includedPaths(readme: string): string[] {
  return [...readme.matchAll(BLOCK)].map((m) => m[2]!);
}

/** The document as it should read, its include blocks filled from the files. */
export function rendered(document: string): { current: string; rendered: string } {
  const current = readFileSync(document, "utf8");
  return { current, rendered: renderIncludes(current, (p) => readFileSync(join(dirname(document), p), "utf8")) };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  for (const document of DOCUMENTS) {
    const doc = rendered(document);
    if (doc.rendered === doc.current) continue;
    if (process.argv.includes("--check")) {
      console.error(`${document}: its examples differ from the files; run node --import tsx clients/node/scripts/readme.ts`);
      process.exitCode = 1;
    } else {
      writeFileSync(document, doc.rendered);
    }
  }
}
