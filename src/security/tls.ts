import { readFile } from "node:fs/promises";
import * as grpc from "@grpc/grpc-js";
import { ConfigError } from "../config.js";

/** TLS material of both listeners, read once at startup. */
export interface TlsMaterial {
  /** For the gRPC listener. */
  readonly grpc: grpc.ServerCredentials;
  /** For the HTTP listener (startHttpServer's tls option). */
  readonly http: { key: Buffer; cert: Buffer; ca?: Buffer | undefined };
}

/**
 * Reads --tls-cert/--tls-key (and --tls-client-ca, which makes client certificates
 * mandatory on both listeners); undefined when TLS is off. Unreadable files stop startup
 * with the path in the message rather than a listener that fails every handshake.
 */
export async function loadTls(config: {
  tlsCert: string | undefined;
  tlsKey: string | undefined;
  tlsClientCa: string | undefined;
}): Promise<TlsMaterial | undefined> {
  if (!config.tlsCert || !config.tlsKey) return undefined;
  const read = async (flag: string, path: string) => {
    try {
      return await readFile(path);
    } catch (err) {
      throw new ConfigError(`cannot read ${flag} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  };
  const cert = await read("--tls-cert", config.tlsCert);
  const key = await read("--tls-key", config.tlsKey);
  const ca = config.tlsClientCa ? await read("--tls-client-ca", config.tlsClientCa) : undefined;
  let credentials: grpc.ServerCredentials;
  try {
    credentials = grpc.ServerCredentials.createSsl(ca ?? null, [{ private_key: key, cert_chain: cert }], ca !== undefined);
  } catch (err) {
    throw new ConfigError(`bad TLS material: ${(err as Error).message}`);
  }
  return { grpc: credentials, http: { key, cert, ca } };
}
