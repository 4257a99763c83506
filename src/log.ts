import { pino, type Logger } from "pino";

/** Keys whose values never reach a log line, wherever they appear (one or two levels deep). */
const SECRET_KEYS = ["authorization", "token", "checkpoint", "values", "result", "details"];

/**
 * The service's logger: JSON lines on stdout. Tokens and payloads (checkpoints, answers,
 * results) are censored by key as a backstop; the code never logs them on purpose.
 */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: "taskcontrol" },
    redact: {
      paths: SECRET_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]),
      censor: "[redacted]",
    },
  });
}

export type { Logger };
