/**
 * Opening a NATS connection from the transport's options, with NATS's own authentication passed through,
 * and the redactor of the secrets among them.
 *
 * Invariant: every setting reaches the client unchanged but `debug`, which stays off (it prints every frame,
 * credentials included); the transport adds only its defaults (reconnect forever, no async stack traces).
 * Every secret given (password, token, nkey seed, credentials, TLS key) is known to the redactor.
 *
 * Why: a user configures the connection as NATS documents it.
 */
import { readFileSync } from "node:fs"
import {
  type Authenticator,
  type ConnectionOptions,
  connect,
  credsAuthenticator,
  type NatsConnection,
  nkeyAuthenticator
} from "@nats-io/transport-node"
import { type Redactor, redactor } from "./secrets.ts"

/** How to reach and authenticate to NATS. Every field passes through to the NATS client unchanged. */
export interface ConnectionSettings {
  /** Server URLs (`nats://host:port`, or `host:port`). Default `127.0.0.1:4222`. */
  readonly servers?: string | ReadonlyArray<string>
  /** The connection's name, as the server's monitoring shows it. */
  readonly name?: string
  /** User name, with `pass`. */
  readonly user?: string
  /** Password, with `user`. Never logged. */
  readonly pass?: string
  /** Authentication token. Never logged. */
  readonly token?: string
  /** An nkey seed (the text starting with `SU`). Never logged. */
  readonly nkeySeed?: string
  /** Path of a credentials file (`.creds`, a user JWT and its nkey seed). Its content is never logged. */
  readonly credentialsFile?: string
  /** Any NATS authenticator (`jwtAuthenticator`, `credsAuthenticator`, ...), for what the fields above do not cover. */
  readonly authenticator?: Authenticator | ReadonlyArray<Authenticator>
  /** TLS: CA, client certificate and key, as PEM text or file paths; `handshakeFirst` for TLS-first servers. */
  readonly tls?: {
    readonly ca?: string
    readonly caFile?: string
    readonly cert?: string
    readonly certFile?: string
    readonly key?: string
    readonly keyFile?: string
    readonly handshakeFirst?: boolean
  }
  /**
   * Further options of the NATS client (reconnect timing, ping interval, ...), passed through. `debug` is
   * left out on purpose: it prints every frame, credentials included. Defaults here: reconnect forever, no
   * async stack traces.
   */
  readonly connectionOptions?: Omit<
    ConnectionOptions,
    "debug" | "servers" | "name" | "user" | "pass" | "token" | "authenticator" | "tls"
  >
}

/** The secrets among the settings, to keep out of every text the transport produces. */
export const redactorOf = (settings: ConnectionSettings): Redactor => {
  const secrets: Array<string | undefined> = [settings.pass, settings.token, settings.nkeySeed, settings.tls?.key]
  if (settings.credentialsFile !== undefined) {
    try {
      const creds = readFileSync(settings.credentialsFile, "utf8")
      secrets.push(...creds.split(/\s+/).filter((line) => line.length > 20 && !line.startsWith("-")))
    } catch {
      // An unreadable file fails the connection with its own error; there is nothing in it to hide.
    }
  }
  return redactor(secrets)
}

/** Opens a connection with the settings. */
export const open = (settings: ConnectionSettings): Promise<NatsConnection> => {
  const authenticators: Array<Authenticator> = []
  if (settings.authenticator !== undefined)
    authenticators.push(...(Array.isArray(settings.authenticator) ? settings.authenticator : [settings.authenticator]))
  if (settings.nkeySeed !== undefined)
    authenticators.push(nkeyAuthenticator(new TextEncoder().encode(settings.nkeySeed)))
  if (settings.credentialsFile !== undefined) {
    const path = settings.credentialsFile
    authenticators.push(credsAuthenticator(() => readFileSync(path)))
  }
  const servers = settings.servers ?? "127.0.0.1:4222"
  return connect({
    maxReconnectAttempts: -1,
    // Async stack traces cost two Error objects per request ("Where a published message's time goes",
    // bench/README.md); the transport reports its own typed errors instead.
    noAsyncTraces: true,
    ...settings.connectionOptions,
    servers: typeof servers === "string" ? servers : [...servers],
    ...(settings.name === undefined ? {} : { name: settings.name }),
    ...(settings.user === undefined ? {} : { user: settings.user }),
    ...(settings.pass === undefined ? {} : { pass: settings.pass }),
    ...(settings.token === undefined ? {} : { token: settings.token }),
    ...(authenticators.length === 0 ? {} : { authenticator: authenticators }),
    ...(settings.tls === undefined ? {} : { tls: { ...settings.tls } }),
    debug: false
  })
}
