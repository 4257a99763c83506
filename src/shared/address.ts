// The one reader of network addresses: the server's listen flags, the transports, taskctl and
// the clients. Pure TypeScript (no Node APIs) so the browser bundle may use it too.

/** A host and a port, the host without IPv6 brackets. */
export interface HostPort {
  /** Name or IP literal, e.g. "127.0.0.1", "localhost", "::1" (no brackets). */
  readonly host: string;
  /** 0-65535; 0 asks the OS for a free port when listening. */
  readonly port: number;
}

/** A server a client connects to: scheme, host and port, and the base URL for connect's transports. */
export interface ServerAddress extends HostPort {
  /** "http" for plaintext (h2c), "https" for TLS. */
  readonly scheme: "http" | "https";
  /** e.g. "http://127.0.0.1:50051" or "https://[::1]:443". */
  readonly baseUrl: string;
}

/** Raised for an address that does not parse; its message says what shape is wanted. */
export class AddressError extends Error {
  constructor(
    /** The text as given. */
    readonly text: string,
    /** What is wrong, without the text (for messages that show it already). */
    readonly reason: string,
  ) {
    super(`"${text}": ${reason}`);
  }
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const HOSTNAME = /^(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*\.?$/i;
const IPV6 = /^[0-9a-f:.]+(%[\w.-]+)?$/i;

/**
 * Parses "host:port": "127.0.0.1:50051", "localhost:0", "[::1]:8080". An IPv6 host must be in
 * brackets; the port is a decimal 0-65535.
 */
export function parseHostPort(text: string): HostPort {
  const shape = "not host:port (e.g. 127.0.0.1:50051, localhost:8080, [::1]:0)";
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) throw new AddressError(text, "give host:port without a scheme");
  let host: string;
  let portText: string;
  if (text.startsWith("[")) {
    const end = text.indexOf("]");
    if (end < 0 || text[end + 1] !== ":") throw new AddressError(text, shape);
    host = text.slice(1, end);
    portText = text.slice(end + 2);
    if (!host.includes(":") || !IPV6.test(host)) throw new AddressError(text, `"${host}" is not an IPv6 address`);
  } else {
    const i = text.lastIndexOf(":");
    if (i <= 0) throw new AddressError(text, shape);
    host = text.slice(0, i);
    portText = text.slice(i + 1);
    if (host.includes(":")) throw new AddressError(text, "put an IPv6 host in brackets, e.g. [::1]:50051");
    if (!IPV4.test(host) && !HOSTNAME.test(host)) throw new AddressError(text, `"${host}" is not a host name or IP address`);
  }
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) {
    throw new AddressError(text, `the port must be a number from 0 to 65535, got "${portText}"`);
  }
  return { host, port: Number(portText) };
}

/** "host:port", bracketing an IPv6 host. */
export function formatHostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** True for 127.0.0.0/8, ::1 (also written out in full) and localhost. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, "$1");
  if (h === "localhost" || h === "localhost.") return true;
  if (IPV4.test(h)) return h.startsWith("127.");
  return /^(0{0,4}:){1,7}0{0,3}1$/.test(h) || h === "::1";
}

/**
 * Parses what a client is given as its server: "host:port" (plaintext), "http://host:port" or
 * "https://host:port" (a URL without a port means 80 or 443). A trailing "/" is allowed; a
 * path, query or credentials are not (the service lives at the root).
 */
export function parseServerAddress(text: string): ServerAddress {
  const trimmed = text.trim();
  const m = /^(https?):\/\/(.*)$/i.exec(trimmed);
  if (!m) {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed)) {
      throw new AddressError(text, "the scheme must be http:// or https://");
    }
    const { host, port } = parseHostPort(trimmed);
    return { scheme: "http", host, port, baseUrl: `http://${formatHostPort(host, port)}` };
  }
  const scheme = m[1]!.toLowerCase() as "http" | "https";
  const rest = m[2]!.replace(/\/+$/, "");
  if (/[/?#@]/.test(rest)) throw new AddressError(text, `give only ${scheme}://host:port, without a path or credentials`);
  const hasPort = /:\d*$/.test(rest) && (!rest.startsWith("[") || /\]:\d*$/.test(rest));
  const { host, port } = parseHostPort(hasPort ? rest : `${rest}:${scheme === "https" ? 443 : 80}`);
  return { scheme, host, port, baseUrl: `${scheme}://${formatHostPort(host, port)}` };
}
