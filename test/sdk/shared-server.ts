import { after, before } from "node:test";
import type { Client } from "../../clients/node/src/index.js";
import { startTestServer, type TestServer } from "../../clients/node/src/testing.js";
import { trackLeaks } from "../support/leaks.js";

/** A test file's real server (startTestServer) and one connected client: started before its tests, closed after. */
export function sharedServer(): { readonly server: TestServer; readonly client: Client } {
  const leaks = trackLeaks();
  let server: TestServer | undefined;
  let client: Client | undefined;
  before(async () => {
    server = await startTestServer();
    client = server.connect();
  });
  after(async () => {
    await server?.close();
    await leaks.check();
  });
  return {
    get server() {
      return server!;
    },
    get client() {
      return client!;
    },
  };
}
