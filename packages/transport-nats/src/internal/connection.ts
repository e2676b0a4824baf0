/**
 * Opening a NATS connection from the transport's options, with NATS's own authentication passed through,
 * and the redactor of the secrets among them.
 *
 * Invariant: every setting reaches the client unchanged but `debug`, which stays off (it prints every frame,
 * credentials included), and the servers' URLs, whose credentials (`nats://user:pass@host`,
 * `nats://token@host`) become the client's `user`/`pass` or `token`, as the NATS CLI and the Go client read
 * them, and leave the URLs; the transport adds only its defaults (reconnect forever, no async stack traces).
 * Every secret given (password, token, nkey seed, credentials, TLS key, a URL's user info) is known to the
 * redactor.
 *
 * Why: a user configures the connection as NATS documents it; nats.js itself ignores a URL's credentials.
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
import { Errors } from "@sluice/core"
import { Result } from "effect"
import { type Redactor, redactor } from "./secrets.ts"

/** How to reach and authenticate to NATS. Every field passes through to the NATS client unchanged. */
export interface ConnectionSettings {
  /**
   * Server URLs (`nats://host:port`, or `host:port`). Default `127.0.0.1:4222`. Credentials in a URL
   * (`nats://user:pass@host:port`, `nats://token@host:port`, percent-encoded as in any URL) are used as
   * `user`/`pass` or `token`, and never logged; every URL that carries some must carry the same, and agree
   * with `user`, `pass` and `token` where those are given.
   */
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

/** A server URL without its user info, and the credentials that user info held. */
interface ServerUrl {
  readonly url: string
  readonly user?: string
  readonly pass?: string
  readonly token?: string
  /** The user info as written (percent-encoded), a secret too. */
  readonly userInfo?: string
}

const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//

/** Percent-decoded, as a URL's user info is; as written when it is not valid percent-encoding. */
const percentDecoded = (text: string): string => {
  try {
    return decodeURIComponent(text)
  } catch {
    return text
  }
}

/**
 * Splits the user info off a server URL, with or without its scheme: `user:pass@` is a user and password,
 * a user info without `:` a token (as nats.go reads it). The last `@` ends the user info, so that a secret
 * written with `/`, `:` or `@` unencoded still leaves the URL (a NATS URL has no path).
 */
const parseServerUrl = (server: string): ServerUrl => {
  const scheme = SCHEME.exec(server)?.[0] ?? ""
  const rest = server.slice(scheme.length)
  const at = rest.lastIndexOf("@")
  if (at === -1) return { url: server }
  const userInfo = rest.slice(0, at)
  const url = `${scheme}${rest.slice(at + 1)}`
  if (userInfo === "") return { url }
  const colon = userInfo.indexOf(":")
  return colon === -1
    ? { url, userInfo, token: percentDecoded(userInfo) }
    : {
        url,
        userInfo,
        user: percentDecoded(userInfo.slice(0, colon)),
        pass: percentDecoded(userInfo.slice(colon + 1))
      }
}

const DEFAULT_SERVER = "127.0.0.1:4222"

const serversOf = (settings: ConnectionSettings): ReadonlyArray<ServerUrl> => {
  const servers = settings.servers ?? DEFAULT_SERVER
  return (typeof servers === "string" ? [servers] : servers).map(parseServerUrl)
}

/** Where and as whom to connect: the servers without user info, and the credentials of the settings and URLs. */
export interface Target {
  readonly servers: ReadonlyArray<string>
  readonly user?: string
  readonly pass?: string
  readonly token?: string
}

/**
 * The servers and credentials the client is given. Fails with `InvalidConfig` (naming no secret) when
 * URLs carry different credentials (the client has one set for every server) or credentials other than
 * `user`, `pass` or `token`.
 */
export const targetOf = (settings: ConnectionSettings): Result.Result<Target, Errors.InvalidConfig> => {
  const servers = serversOf(settings)
  const withCredentials = servers.filter((server) => server.userInfo !== undefined)
  const [first] = withCredentials
  const explicit = {
    ...(settings.user === undefined ? {} : { user: settings.user }),
    ...(settings.pass === undefined ? {} : { pass: settings.pass }),
    ...(settings.token === undefined ? {} : { token: settings.token })
  }
  const urls = servers.map((server) => server.url)
  if (first === undefined) return Result.succeed({ servers: urls, ...explicit })
  const fromUrl = {
    ...(first.user === undefined ? {} : { user: first.user }),
    ...(first.pass === undefined ? {} : { pass: first.pass }),
    ...(first.token === undefined ? {} : { token: first.token })
  }
  const same = (a: Partial<Target>, b: Partial<Target>) => a.user === b.user && a.pass === b.pass && a.token === b.token
  if (!withCredentials.every((server) => same(server, fromUrl)))
    return Result.fail(
      new Errors.InvalidConfig({
        option: "servers",
        reason: `servers carry different credentials in their URLs (${urls.join(", ")}), and the NATS client uses one set for every server`
      })
    )
  const fromUrlByName: Partial<Record<string, string>> = fromUrl
  if (!Object.entries(explicit).every(([name, value]) => fromUrlByName[name] === value))
    return Result.fail(
      new Errors.InvalidConfig({
        option: "servers",
        reason: `servers carry credentials in their URLs (${urls.join(", ")}) other than those of user, pass and token`
      })
    )
  return Result.succeed({ servers: urls, ...fromUrl })
}

/** The servers the settings name, without credentials, as errors show them: comma-separated. */
export const addressOf = (settings: ConnectionSettings): string =>
  serversOf(settings)
    .map((server) => server.url)
    .join(", ")

/** The secrets among the settings, to keep out of every text the transport produces. */
export const redactorOf = (settings: ConnectionSettings): Redactor => {
  const secrets: Array<string | undefined> = [settings.pass, settings.token, settings.nkeySeed, settings.tls?.key]
  for (const server of serversOf(settings)) secrets.push(server.userInfo, server.pass, server.token)
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

/** Opens a connection with the settings, to the servers and with the credentials of `target` ({@link targetOf}). */
export const open = (settings: ConnectionSettings, target: Target): Promise<NatsConnection> => {
  const authenticators: Array<Authenticator> = []
  if (settings.authenticator !== undefined)
    authenticators.push(...(Array.isArray(settings.authenticator) ? settings.authenticator : [settings.authenticator]))
  if (settings.nkeySeed !== undefined)
    authenticators.push(nkeyAuthenticator(new TextEncoder().encode(settings.nkeySeed)))
  if (settings.credentialsFile !== undefined) {
    const path = settings.credentialsFile
    authenticators.push(credsAuthenticator(() => readFileSync(path)))
  }
  return connect({
    maxReconnectAttempts: -1,
    // Async stack traces cost two Error objects per request ("Where a published message's time goes",
    // bench/README.md); the transport reports its own typed errors instead.
    noAsyncTraces: true,
    ...settings.connectionOptions,
    servers: [...target.servers],
    ...(settings.name === undefined ? {} : { name: settings.name }),
    ...(target.user === undefined ? {} : { user: target.user }),
    ...(target.pass === undefined ? {} : { pass: target.pass }),
    ...(target.token === undefined ? {} : { token: target.token }),
    ...(authenticators.length === 0 ? {} : { authenticator: authenticators }),
    ...(settings.tls === undefined ? {} : { tls: { ...settings.tls } }),
    debug: false
  })
}
