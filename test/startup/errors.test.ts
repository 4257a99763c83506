// Start-up errors, with real processes: each is one line on stderr naming the flag or the
// resource and what to do, exit 2 for bad configuration and 1 for a failure at run time.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { SETTINGS } from "../../src/config.js";
import { ROOT } from "../support/server-process.js";

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

const dir = mkdtempSync(join(tmpdir(), "taskcontrol-startup-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `node --import tsx src/main.ts ARGS` to its exit (killed after 30 s). */
function run(args: string[], env: Record<string, string> = {}): Promise<Exit> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("TASKCONTROL_")));
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts", ...args], {
    cwd: ROOT,
    env: { ...clean, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  return new Promise((resolve) =>
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
}

/** The listen flags and db of a server that would start, for cases that break one thing. */
function base(db = join(dir, "t.sqlite")): string[] {
  return ["--grpc-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--db", db];
}

function assertOneLine(r: Exit, code: number, mentions: RegExp[]): void {
  const lines = r.stderr.split("\n").filter((l) => l.trim() !== "");
  assert.equal(lines.length, 1, `stderr is not one line:\n${r.stderr}`);
  assert.doesNotMatch(lines[0]!, /\bat .*:\d+:\d+\)?$|Error:/, `stderr shows a stack or an error class:\n${r.stderr}`);
  assert.match(lines[0]!, /^taskcontrol: /);
  for (const m of mentions) assert.match(lines[0]!, m);
  assert.equal(r.code, code, `exit code for: ${lines[0]}`);
}

describe("start-up errors", () => {
  const bad: [string, string[], Record<string, string>, RegExp[]][] = [
    ["an unknown log level", ["--log-level", "verbose"], {}, [/--log-level/, /verbose/, /info/, /debug/]],
    ["an unknown log level from the environment", [], { TASKCONTROL_LOG_LEVEL: "verbose" }, [/TASKCONTROL_LOG_LEVEL/, /debug/]],
    ["a gRPC port past 65535", ["--grpc-listen", "127.0.0.1:99999"], {}, [/--grpc-listen/, /99999/, /0 to 65535/]],
    ["an HTTP port that is no number", ["--http-listen", "127.0.0.1:http"], {}, [/--http-listen/, /0 to 65535/]],
    ["a listen address without a port", ["--grpc-listen", "localhost"], {}, [/--grpc-listen/, /host:port/]],
    ["an IPv6 host without brackets", ["--http-listen", "::1:8080"], {}, [/--http-listen/, /brackets/]],
    ["both listeners on one port", ["--grpc-listen", "127.0.0.1:50999", "--http-listen", "127.0.0.1:50999"], {}, [/--grpc-listen/, /--http-listen/]],
    ["an interval that is no number", ["--bookmark-interval-ms", "soon"], {}, [/--bookmark-interval-ms/, /soon/, /integer/]],
    ["an interval below its minimum", ["--shutdown-grace-ms=-1"], {}, [/--shutdown-grace-ms/, /≥ 0/]],
    ["a timer past what Node can wait", ["--bookmark-interval-ms", "9999999999"], {}, [/--bookmark-interval-ms/, /≤ 2147483647/]],
    ["an unknown durability", ["--durability", "fsync"], {}, [/--durability/, /normal/, /full/]],
    ["a switch set to something else in the environment", [], { TASKCONTROL_INSECURE: "maybe" }, [/TASKCONTROL_INSECURE/, /true/]],
    ["an unknown flag", ["--grpc-port", "1"], {}, [/--grpc-port/, /--help/]],
    ["a flag without its value", ["--db"], {}, [/--db/, /--help/]],
    ["a stray argument", ["serve"], {}, [/serve/, /--help/]],
    ["a missing auth file", ["--auth-file", join(dir, "none.json")], {}, [/auth file/, /none\.json/]],
    ["TLS cert without key", ["--tls-cert", join(dir, "c.pem")], {}, [/--tls-cert/, /--tls-key/]],
  ];
  for (const [name, args, env, mentions] of bad) {
    it(`${name}: one line, exit 2`, async () => {
      assertOneLine(await run([...base(), ...args], env), 2, mentions);
    });
  }

  describe("a port in use", () => {
    let holder: Server;
    let taken: string;
    before(async () => {
      holder = createServer();
      await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve));
      taken = `127.0.0.1:${(holder.address() as { port: number }).port}`;
    });
    after(() => new Promise<void>((resolve) => holder.close(() => resolve())));

    for (const flag of ["--grpc-listen", "--http-listen"]) {
      it(`on ${flag}: one line naming the flag and the address, exit 1`, async () => {
        const r = await run([...base(), flag, taken]);
        assertOneLine(r, 1, [new RegExp(flag), new RegExp(taken.replace(/\./g, "\\.")), /in use/, /another port/]);
      });
    }
  });

  it("an unreachable PostgreSQL: one line naming --db without its password, exit 1", async () => {
    const r = await run(base("postgres://root:secret@127.0.0.1:1/none"));
    assertOneLine(r, 1, [/--db/, /127\.0\.0\.1:1/, /\*\*\*/]);
    assert.doesNotMatch(r.stderr, /secret/);
  });
});

describe("--help", () => {
  it("lists every flag with its environment variable, description and default, and exits 0", async () => {
    const r = await run(["--help"]);
    assert.equal(r.code, 0);
    assert.equal(r.stderr, "");
    for (const [flag, s] of Object.entries(SETTINGS)) {
      const at = r.stdout.indexOf(`--${flag} `) >= 0 ? r.stdout.indexOf(`--${flag} `) : r.stdout.indexOf(`--${flag}\n`);
      assert.ok(at >= 0, `--${flag} missing from --help`);
      const entry = r.stdout.slice(at, r.stdout.indexOf("\n  --", at + 1) >>> 0);
      assert.ok(entry.includes(s.env), `--${flag}: no ${s.env}`);
      assert.ok(entry.replace(/\s+/g, " ").includes(s.description), `--${flag}: no description`);
      if (s.shown !== undefined) assert.ok(entry.includes(`default ${s.shown}`), `--${flag}: no default ${s.shown}:\n${entry}`);
    }
  });
});
