import { pino, type Logger } from "pino";

/** The service's logger: JSON lines on stdout. Never log tokens or checkpoint contents. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: "taskcontrol" },
    redact: { paths: ["authorization", "*.authorization", "token", "*.token"], censor: "[redacted]" },
  });
}

export type { Logger };
