import { readFile } from "node:fs/promises";
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import { extname, join, normalize, sep } from "node:path";
import type { DescService } from "@bufbuild/protobuf";
import type { ContextValues, Interceptor, ServiceImpl } from "@connectrpc/connect";
import { compressionBrotli, compressionGzip } from "@connectrpc/connect-node";
import { LIMITS } from "../../domain/limits.js";
import { type ConnectionOptions, DEFAULT_CONNECTION_OPTIONS, endUnreadRequests, guardSession } from "./connections.js";
import { listenOn } from "../listen.js";
import { type Req, type Res, rpcHandler } from "./rpc-handler.js";
import { strictJsonText } from "./strict-json.js";

/** A plain HTTP route next to the RPCs (health, metrics): answers or returns false. */
export type HttpRoute = (req: Req, res: Res) => boolean | Promise<boolean>;

/** Options of startHttpServer. */
export interface HttpServerOptions<S extends DescService> {
  /** host:port; port 0 picks a free one. */
  listen: string;
  service: S;
  impl: ServiceImpl<S>;
  /** Builds each call's context values from its request (authentication). */
  contextValues: (req: Req) => ContextValues;
  interceptors?: Interceptor[];
  /** Routes tried before the static files. */
  routes?: HttpRoute[];
  /** Directory whose files are served at / (index.html for /); none when undefined. */
  staticDir?: string | undefined;
  /** TLS key and certificate (PEM); plaintext HTTP/1.1 + h2c when omitted. */
  tls?: { key: Buffer; cert: Buffer; ca?: Buffer | undefined; requestCert?: boolean } | undefined;
  shutdownSignal?: AbortSignal;
  /** Timeouts and the connection cap. @default DEFAULT_CONNECTION_OPTIONS */
  connections?: ConnectionOptions;
}

/** A listening HTTP server. */
export interface HttpServer {
  readonly address: string;
  /** Stops accepting and waits up to graceMs for requests, then destroys what is left. */
  close(graceMs: number): Promise<void>;
}

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".map": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
};

/**
 * Starts the HTTP listener: Connect, gRPC-Web and gRPC through connect-node, over HTTP/1.1
 * and h2c on one plaintext port (the first bytes of a connection tell which), or over TLS
 * with ALPN. Browsers and gateways use it; it calls the same ServiceImpl as the gRPC one.
 */
export async function startHttpServer<S extends DescService>(options: HttpServerOptions<S>): Promise<HttpServer> {
  // Request bodies are decoded once, by connect: protobuf-es checks the UTF-8 of proto3
  // strings itself, and JSON text goes through the strict decoder (connect's JSON
  // serialization reads `textDecoder` from these options; unknown fields ignored, its default).
  const jsonOptions = { ignoreUnknownFields: true, textDecoder: strictJsonText };
  const rpc = rpcHandler({
    routes: (router) => router.service(options.service, options.impl),
    acceptCompression: [compressionGzip, compressionBrotli],
    jsonOptions,
    contextValues: options.contextValues,
    interceptors: options.interceptors ?? [],
    readMaxBytes: LIMITS.messageBytes,
    shutdownSignal: options.shutdownSignal,
    fallback: (req, res) => void fallback(req, res),
    onHandlerError: (method, err) => console.error(`handler for rpc ${method} failed`, err),
  });

  async function fallback(req: Req, res: Res): Promise<void> {
    try {
      for (const route of options.routes ?? []) if (await route(req, res)) return;
      if (options.staticDir && (req.method === "GET" || req.method === "HEAD") && (await serveStatic(req, res))) return;
      send(res, 404, "text/plain; charset=utf-8", "not found\n");
    } catch {
      if (!res.headersSent) send(res, 500, "text/plain; charset=utf-8", "internal error\n");
    }
  }

  async function serveStatic(req: Req, res: Res): Promise<boolean> {
    const dir = options.staticDir!;
    const path = new URL(req.url ?? "/", "http://x").pathname;
    const file = normalize(join(dir, path === "/" ? "index.html" : decodeURIComponent(path)));
    if (!file.startsWith(normalize(dir) + sep)) return false;
    let body: Buffer;
    try {
      body = await readFile(file);
    } catch {
      return false;
    }
    res.setHeader("cache-control", "no-cache");
    res.setHeader("x-content-type-options", "nosniff");
    send(res, 200, TYPES[extname(file)] ?? "application/octet-stream", req.method === "HEAD" ? "" : body);
    return true;
  }

  const sockets = new Set<net.Socket>();
  const sessions = new Set<http2.Http2Session>();
  // HTTP/1.1 sockets between two requests. The h1 server never listens itself (connections
  // are handed to it), so its closeIdleConnections() tracks nothing, and the TLS listener has
  // none: close() would wait for the keep-alive timeout. This tracks them instead.
  const idle = new Set<net.Socket>();
  let closing = false;
  const h1Connection = (socket: net.Socket) => {
    idle.add(socket);
    socket.on("close", () => idle.delete(socket));
  };
  const h1Request = (req: { httpVersionMajor: number; socket: net.Socket; complete: boolean }, res: http.ServerResponse) => {
    if (req.httpVersionMajor !== 1) return;
    const socket = req.socket;
    idle.delete(socket);
    if (closing) res.shouldKeepAlive = false;
    // An answer sent before the body was read says Connection: close (rpcHandler).
    res.on("finish", () => {
      if (closing) socket.end();
      else if (!socket.destroyed) idle.add(socket);
    });
  };
  const limits = options.connections ?? DEFAULT_CONNECTION_OPTIONS;
  const h1Timeouts = {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
  };
  const onSession = (session: http2.Http2Session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
    guardSession(session, limits);
  };
  let listener: net.Server;
  if (options.tls) {
    const secure = http2.createSecureServer(
      {
        key: options.tls.key,
        cert: options.tls.cert,
        ...(options.tls.ca ? { ca: options.tls.ca, requestCert: true, rejectUnauthorized: true } : {}),
        allowHTTP1: true,
        handshakeTimeout: limits.initialTimeoutMs,
      },
      rpc,
    );
    // HTTP/1.1 over TLS is served by Node's HTTP/1 code with these fields of the h2 server.
    Object.assign(secure, h1Timeouts);
    secure.on("secureConnection", (socket: net.Socket & { alpnProtocol?: string | false }) => {
      if (socket.alpnProtocol !== "h2") h1Connection(socket);
    });
    secure.on("request", h1Request);
    secure.on("session", onSession);
    secure.on("stream", endUnreadRequests);
    listener = secure;
  } else {
    const server1 = http.createServer({ ...h1Timeouts, connectionsCheckingInterval: checkingInterval(limits) }, rpc);
    // A client that half-closes after its request still gets the response (then the close).
    (server1 as http.Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
    // Node checks headersTimeout and requestTimeout from a timer it starts on "listening";
    // this server never listens (the sniffing listener hands it sockets), so start it here.
    server1.emit("listening");
    server1.on("connection", h1Connection);
    server1.on("request", h1Request);
    const h2 = http2.createServer(rpc);
    h2.on("session", onSession);
    h2.on("stream", endUnreadRequests);
    listener = net.createServer({ allowHalfOpen: true }, (socket) => {
      // Until its first bytes, a connection belongs to no server: time it here.
      socket.setTimeout(limits.initialTimeoutMs, () => socket.destroy());
      const early = () => socket.destroy();
      socket.once("end", early);
      // h2c with prior knowledge starts with the HTTP/2 preface; anything else is HTTP/1.1.
      socket.once("data", (first: Buffer) => {
        socket.setTimeout(0);
        socket.off("end", early);
        socket.pause();
        socket.unshift(first);
        const isH2 = first.subarray(0, 3).toString("latin1") === "PRI";
        // Half-open is for HTTP/1.1 requests; an HTTP/2 peer's FIN ends its session.
        if (isH2) socket.allowHalfOpen = false;
        (isH2 ? h2 : server1).emit("connection", socket);
        process.nextTick(() => socket.resume());
      });
    });
    listener.on("close", () => server1.close());
  }
  // Past the cap Node closes each new connection at once (the newest is shed; the
  // connections already served keep going).
  listener.maxConnections = limits.maxConnections;
  listener.on("connection", (s: net.Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  const address = await listenOn(listener, options.listen);
  return {
    address,
    close: (graceMs) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          for (const s of sockets) s.destroy();
          resolve();
        }, graceMs);
        listener.close(() => {
          clearTimeout(timer);
          resolve();
        });
        // Idle keep-alive connections would hold close() open: end them; busy ones finish.
        closing = true;
        for (const s of idle) s.destroy();
        idle.clear();
        for (const session of sessions) session.close();
      }),
  };
}

/** How often Node checks HTTP/1.1 requests against their timeouts: a fraction of the shortest. */
function checkingInterval(limits: ConnectionOptions): number {
  return Math.max(50, Math.min(30_000, Math.floor(Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs) / 4)));
}

function send(res: Res, status: number, type: string, body: string | Buffer): void {
  res.statusCode = status;
  res.setHeader("content-type", type);
  (res as http.ServerResponse).end(body);
}
