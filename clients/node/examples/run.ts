// What the examples share when run as scripts: the server address from the first argument
// or TASKCONTROL_ADDRESS, the token from TASKCONTROL_TOKEN, the owner from TASKCONTROL_OWNER.
import { pathToFileURL } from "node:url";
import { connect, type Client } from "../src/index.js";

/** Runs `main` with a connected client when `moduleUrl` is the script node was started with. */
export function runAsScript(moduleUrl: string, main: (client: Client, owner: string) => Promise<string>): void {
  if (moduleUrl !== pathToFileURL(process.argv[1] ?? "").href) return;
  const address = process.argv[2] ?? process.env["TASKCONTROL_ADDRESS"] ?? "127.0.0.1:50051";
  const client = connect(address, { token: process.env["TASKCONTROL_TOKEN"] });
  main(client, process.env["TASKCONTROL_OWNER"] ?? "alice")
    .then((line) => console.log(line))
    .catch((err: unknown) => {
      console.error(err instanceof Error ? err.message : err);
      process.exitCode = 1;
    })
    .finally(() => client.close());
}

/** The pause between the demo's steps: TASKCONTROL_EXAMPLE_DELAY seconds, else the page's 1.5 s. */
export function stepDelayMs(): number {
  return Number(process.env["TASKCONTROL_EXAMPLE_DELAY"] ?? 1.5) * 1000;
}
