import type * as grpc from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";
import type { HttpRoute } from "../transport/http/server.js";
import { cappedServer, type StreamCap } from "./stream-cap.js";

/** Serving state shared by grpc.health.v1 and the HTTP probes. */
export interface Health {
  /** SERVING once the store is open; NOT_SERVING before, and from the start of draining. */
  setServing(serving: boolean): void;
  readonly serving: boolean;
  /**
   * A reason the server cannot do its job although it runs (the database cannot commit), or
   * null once it can again: NOT_SERVING and /readyz 503 (with the reason) while one is set.
   */
  setProblem(problem: string | null): void;
  /**
   * Marks NOT_SERVING and ends the open Health.Watch streams after telling them, so that
   * load balancers learn at once and a drain does not wait on their endless streams.
   */
  drain(): void;
  /** Adds grpc.health.v1.Health to the gRPC listener (no token needed: probes call it). */
  addToServer(server: grpc.Server): void;
  /** GET /healthz (liveness: the process answers) and /readyz (readiness: serving). */
  readonly route: HttpRoute;
}

/**
 * Builds the health state for the overall server ("") and each named service. `ready` adds
 * a readiness condition of the core (the task manager open) to the serving flag; `watchCap`
 * bounds the open Watch streams (no token needed, so anyone could open thousands).
 */
export function createHealth(options: { services: readonly string[]; ready: () => boolean; watchCap?: StreamCap }): Health {
  const names = ["", ...options.services];
  const impl = new HealthImplementation(Object.fromEntries(names.map((n) => [n, "NOT_SERVING" as const])));
  const watches = new Set<grpc.ServerWritableStream<unknown, unknown>>();
  let serving = false;
  let problem: string | null = null;
  const publish = () => {
    for (const n of names) impl.setStatus(n, serving && problem === null ? "SERVING" : "NOT_SERVING");
  };
  const set = (on: boolean) => {
    serving = on;
    publish();
  };
  return {
    setServing: set,
    get serving() {
      return serving && problem === null;
    },
    setProblem(p) {
      problem = p;
      publish();
    },
    drain() {
      set(false);
      for (const call of watches) call.end();
      watches.clear();
    },
    addToServer(server) {
      impl.addToServer({
        addService(definition, handlers) {
          const watch = handlers.watch as (call: grpc.ServerWritableStream<unknown, unknown>) => void;
          cappedServer(server, options.watchCap).addService(definition as unknown as grpc.ServiceDefinition, {
            ...(handlers as grpc.UntypedServiceImplementation),
            watch(call: grpc.ServerWritableStream<unknown, unknown>) {
              watches.add(call);
              const forget = () => watches.delete(call);
              call.on("cancelled", forget);
              call.on("finish", forget);
              watch(call);
            },
          });
        },
      });
    },
    route(req, res) {
      const path = (req.url ?? "").split("?")[0];
      if (path !== "/healthz" && path !== "/readyz") return false;
      const ok = path === "/healthz" || (serving && problem === null && options.ready());
      res.statusCode = ok ? 200 : 503;
      res.setHeader("content-type", "text/plain; charset=utf-8");
      res.setHeader("cache-control", "no-store");
      (res as { end(b: string): void }).end(ok ? "ok\n" : problem && serving ? `not serving: ${problem}\n` : "not serving\n");
      return true;
    },
  };
}
