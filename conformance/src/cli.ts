/**
 * npm run conformance -- --target http://HOST:PORT --protocol grpc|connect|grpc-web
 *   [--token T] [--principal NAME] [--cases GLOB] [--junit FILE] [--client node|python]
 *   [--parallel N]
 *
 * Exit 0 when every case passed, 1 when one failed, 2 on a usage error.
 */
import { parseArgs } from "node:util";
import type { SdkAdapter } from "./adapter.js";
import { runKit } from "./run.js";
import { PROTOCOLS, type Protocol } from "./wire.js";

const USAGE = `usage: npm run conformance -- --target http://HOST:PORT --protocol grpc|connect|grpc-web
  [--token T]          bearer token sent on every call (an admin's, or none with auth off)
  [--principal NAME]   the name the server records for that token (default: anonymous)
  [--cases GLOB]       only the cases whose id (area/name) matches, e.g. 'watch/*'
  [--junit FILE]       also write a JUnit XML report
  [--client node|python]  client mode: the SDK scenarios through that SDK (gRPC target)
  [--parallel N]       server-mode cases run at once (default 4)`;

async function adapterFor(name: string, target: string, token?: string): Promise<SdkAdapter> {
  if (name === "python") return (await import("./python-adapter.js")).startPythonAdapter({ target, token });
  if (name === "node") return (await import("./node-adapter.js")).startNodeAdapter({ target, token });
  throw new Error(`--client must be node or python, not ${name}`);
}

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        target: { type: "string" },
        protocol: { type: "string", default: "grpc" },
        token: { type: "string" },
        principal: { type: "string" },
        cases: { type: "string" },
        junit: { type: "string" },
        client: { type: "string" },
        parallel: { type: "string" },
        help: { type: "boolean" },
      },
    }));
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (!values.target || !PROTOCOLS.includes(values.protocol as Protocol)) {
    console.error(USAGE);
    return 2;
  }
  const target = /^https?:\/\//.test(values.target) ? values.target : `http://${values.target}`;
  const adapter = values.client ? await adapterFor(values.client, target, values.token) : undefined;
  try {
    const result = await runKit({
      target,
      protocol: values.protocol as Protocol,
      token: values.token,
      principal: values.principal,
      cases: values.cases,
      junit: values.junit,
      adapter,
      parallel: values.parallel ? Number(values.parallel) : undefined,
    });
    return result.failed === 0 ? 0 : 1;
  } finally {
    await adapter?.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(2);
  },
);
