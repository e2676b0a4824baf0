/**
 * Credentials never leak: whatever goes wrong while connecting to NATS with a password, a token, a
 * URL with `user:pass@` or `token@` (which work, as with the NATS CLI), an nkey seed or a credentials
 * file (or after connecting with them), no secret appears in the error (its message, `String`, JSON,
 * cause, stack, `util.inspect`), in an Effect log line, or in anything written to the console, stdout or
 * stderr. Credentials the server refuses are `AuthenticationFailed`, with the server's words and address.
 */

import { createHash, generateKeyPairSync, randomBytes } from "node:crypto"
import { mkdtemp, rm, writeFile } from "node:fs/promises"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { setTimeout as sleep } from "node:timers/promises"
import { inspect } from "node:util"
import { describe, expect, it, vi } from "@effect/vitest"
import { AckPolicy, jetstreamManager } from "@nats-io/jetstream"
import { connect, nkeys } from "@nats-io/transport-node"
import { Bus, Sluice, StartPosition, Topic } from "@sluice/core"
import { Cause, Effect, Exit, Layer, Logger, References, Schema, type Scope, Stream } from "effect"
import { afterAll } from "vitest"
import { NatsTransport } from "../src/index.ts"
import { NatsServer } from "../src/testing/index.ts"

// ---------------------------------------------------------------------------
// Secrets, servers that require them, and a credentials file

const random = (prefix: string) => `${prefix}${randomBytes(12).toString("hex")}`
const encoder = new TextEncoder()
const decoder = new TextDecoder()

const USER = "sluice"
const PASSWORD = random("pw-right-")
/** A password with the characters a URL's user info must percent-encode. */
const RESERVED_PASSWORD = random("pw:@/%?#-")
const WRONG_PASSWORD = random("pw-wrong-")
const TOKEN = random("tok-right-")
const WRONG_TOKEN = random("tok-wrong-")
const allowedUser = nkeys.createUser()
/** An nkey seed the server does not know. */
const foreignSeed = decoder.decode(nkeys.createUser().getSeed())

/** A user JWT signed by an account the server does not trust, as `nsc` writes it. */
const userJwt = (account: nkeys.KeyPair, user: nkeys.KeyPair): string => {
  const base64url = (text: string) => Buffer.from(text).toString("base64url")
  const claims = {
    iat: Math.floor(Date.now() / 1000),
    iss: account.getPublicKey(),
    name: "sluice-ci",
    sub: user.getPublicKey(),
    nats: { pub: {}, sub: {}, subs: -1, data: -1, payload: -1, type: "user", version: 2 }
  }
  const jti = createHash("sha256").update(JSON.stringify(claims)).digest("hex").toUpperCase().slice(0, 52)
  const header = base64url(JSON.stringify({ typ: "JWT", alg: "ed25519-nkey" }))
  const payload = base64url(JSON.stringify({ jti, ...claims }))
  const signature = Buffer.from(account.sign(encoder.encode(`${header}.${payload}`))).toString("base64url")
  return `${header}.${payload}.${signature}`
}
/** A TLS client key, as PEM text. */
const tlsKey = generateKeyPairSync("ec", { namedCurve: "P-256" })
  .privateKey.export({ type: "pkcs8", format: "pem" })
  .toString()
/** A seed with a typo: not valid base32. */
const mistypedSeed = `SUA1${random("").toUpperCase()}`
const credsUser = nkeys.createUser()
const credsSeed = decoder.decode(credsUser.getSeed())
const credsJwt = userJwt(nkeys.createAccount(), credsUser)
const credsText = `-----BEGIN NATS USER JWT-----
${credsJwt}
------END NATS USER JWT------

************************* IMPORTANT *************************
NKEY Seed printed below can be used to sign and prove identity.
NKEYs are sensitive and should be treated as secrets.

-----BEGIN USER NKEY SEED-----
${credsSeed}
------END USER NKEY SEED------

*************************************************************
`

/**
 * Every secret of this file, by name. Besides each whole secret, its first and last 16 characters are
 * looked for, so that a truncated echo counts as a leak too. A JWT's header is the same in every JWT and
 * its claims are public: its signature is what must not show.
 */
const SECRETS: ReadonlyArray<readonly [string, string]> = [
  ["the password", PASSWORD],
  ["the password with reserved characters", RESERVED_PASSWORD],
  ["the password with reserved characters, percent-encoded", encodeURIComponent(RESERVED_PASSWORD)],
  ["the wrong password", WRONG_PASSWORD],
  ["the token", TOKEN],
  ["the wrong token", WRONG_TOKEN],
  ["the allowed nkey seed", decoder.decode(allowedUser.getSeed())],
  ["the foreign nkey seed", foreignSeed],
  ["the credentials' nkey seed", credsSeed],
  ["the credentials' JWT signature", credsJwt.split(".")[2] ?? credsJwt],
  ["the mistyped nkey seed", mistypedSeed]
]
/** The TLS key's base64 body, whole and line by line (its PEM armour and ASN.1 header are the same in every key). */
const KEY_PARTS: ReadonlyArray<readonly [string, string]> = [
  ["the TLS client key", tlsKey.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, "")],
  ...tlsKey
    .split("\n")
    .filter((line) => line.length >= 16 && !line.startsWith("-----"))
    .map((line, i) => [`line ${i + 1} of the TLS client key`, line] as const)
]
const NEEDLES = [
  ...SECRETS.flatMap(([name, secret]) => [
    [name, secret] as const,
    [`the start of ${name}`, secret.slice(0, 16)] as const,
    [`the end of ${name}`, secret.slice(-16)] as const
  ]),
  ...KEY_PARTS
]

// Three servers, each requiring one kind of credentials. `--user`/`--pass` and `--auth` are the flags of
// nats-server 2.9.10; nkey users need a config file.
const [userServer, tokenServer, nkeyServer, reservedServer] = await Promise.all([
  NatsServer.start({ args: ["--user", USER, "--pass", PASSWORD] }),
  NatsServer.start({ args: ["--auth", TOKEN] }),
  NatsServer.start({ configText: `authorization { users: [ { nkey: "${allowedUser.getPublicKey()}" } ] }` }),
  NatsServer.start({ args: ["--user", USER, "--pass", RESERVED_PASSWORD] })
])
const credsDir = await mkdtemp(join(tmpdir(), "sluice-secrets-"))
const credentialsFile = join(credsDir, "ci.creds")
await writeFile(credentialsFile, credsText, { mode: 0o600 })
afterAll(async () => {
  await Promise.all([userServer.stop(), tokenServer.stop(), nkeyServer.stop(), reservedServer.stop()])
  await rm(credsDir, { recursive: true, force: true })
})

/** A loopback port nothing listens on: bound, then released. */
const closedPort = await new Promise<number>((resolve, reject) => {
  const probe = createServer()
  probe.once("error", reject)
  probe.listen(0, "127.0.0.1", () => {
    const address = probe.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    probe.close(() => resolve(port))
  })
})

// ---------------------------------------------------------------------------
// Capturing every output

/** Everything written while `run` ran: console, stdout, stderr, Effect logs, unhandled rejections. */
interface Captured {
  readonly lines: Array<string>
}

const show = (value: unknown): string =>
  typeof value === "string" ? value : inspect(value, { depth: 10, showHidden: true })

const CONSOLE_METHODS = ["log", "info", "warn", "error", "debug", "trace", "dir"] as const

/**
 * Runs `run` with every output channel recorded (and kept off the terminal): `console.*`,
 * `process.stdout.write`, `process.stderr.write`, unhandled rejections. Late output of the attempt
 * (a client's asynchronous logging) is waited for briefly.
 */
const capturing = async <A>(run: (captured: Captured) => Promise<A>): Promise<{ result: A; captured: Captured }> => {
  const captured: Captured = { lines: [] }
  const record = (channel: string) => (chunk: unknown) => {
    captured.lines.push(`${channel}: ${chunk instanceof Uint8Array ? decoder.decode(chunk) : show(chunk)}`)
  }
  const spies = [
    ...CONSOLE_METHODS.map((method) =>
      vi.spyOn(console, method).mockImplementation((...args: Array<unknown>) => {
        record(`console.${method}`)(args.map(show).join(" "))
      })
    ),
    vi.spyOn(process.stdout, "write").mockImplementation((chunk: unknown) => {
      record("stdout")(chunk)
      return true
    }),
    vi.spyOn(process.stderr, "write").mockImplementation((chunk: unknown) => {
      record("stderr")(chunk)
      return true
    })
  ]
  const onRejection = (reason: unknown) => record("unhandledRejection")(reason)
  process.on("unhandledRejection", onRejection)
  try {
    const result = await run(captured)
    await sleep(100)
    return { result, captured }
  } finally {
    process.off("unhandledRejection", onRejection)
    for (const spy of spies) spy.mockRestore()
  }
}

/** Records every Effect log line, at every level, with its message, annotations and cause in full. */
const recordingLogs = (captured: Captured) =>
  Layer.mergeAll(
    Logger.layer(
      [
        Logger.make((options) => {
          captured.lines.push(
            `effect log: ${Logger.formatLogFmt.log(options)} ${show(options.message)} ${Cause.pretty(options.cause)}`
          )
        })
      ],
      // The default logger stays: what it prints goes to the console, which is captured as well.
      { mergeWithExisting: true }
    ),
    Layer.succeed(References.MinimumLogLevel, "All")
  )

/** Runs a scoped program with everything captured; gives its exit. */
const attempt = <A, E>(program: Effect.Effect<A, E, Scope.Scope>) =>
  capturing((captured) =>
    Effect.runPromise(Effect.exit(Effect.scoped(program)).pipe(Effect.provide(recordingLogs(captured))))
  ).then(({ result, captured }) => ({ exit: result, captured }))

/** Every text a program could show of an error. */
const textsOf = (error: unknown): Record<string, string> => {
  const cause = typeof error === "object" && error !== null ? (error as { cause?: unknown }).cause : undefined
  return {
    message: error instanceof Error ? error.message : "",
    "String(error)": String(error),
    "JSON.stringify(error)": JSON.stringify(error) ?? "",
    "util.inspect(error)": inspect(error, { depth: 10 }),
    "util.inspect(error, showHidden)": show(error),
    stack: error instanceof Error ? String(error.stack) : "",
    "error.cause": show(cause),
    "JSON.stringify(error.cause)": JSON.stringify(cause) ?? ""
  }
}

/** Fails the test naming each secret found, and where (without printing the secret). */
const expectNoSecret = (texts: Record<string, string>) => {
  const leaks: Array<string> = []
  for (const [where, text] of Object.entries(texts))
    for (const [name, needle] of NEEDLES) if (text.includes(needle)) leaks.push(`${name} in ${where}`)
  expect(leaks).toEqual([])
}

/** The error an exit failed with, after checking that neither it, its cause nor any output holds a secret. */
const failureOf = <A, E>(exit: Exit.Exit<A, E>, captured: Captured): unknown => {
  if (Exit.isSuccess(exit)) return expect.fail("expected the attempt to fail")
  const error = Cause.squash(exit.cause)
  expectNoSecret({
    ...textsOf(error),
    "Cause.pretty": Cause.pretty(exit.cause),
    "util.inspect(exit)": show(exit),
    ...Object.fromEntries(captured.lines.map((line, i) => [`output line ${i + 1}`, line]))
  })
  return error
}

/** The value of an exit that must be a success; otherwise fails naming the error's tag and message. */
const succeeded = <A, E>(exit: Exit.Exit<A, E>): A => {
  if (Exit.isSuccess(exit)) return exit.value
  const error = Cause.squash(exit.cause) as { _tag?: string; message?: string }
  return expect.fail(`expected success, got ${error._tag}: ${error.message}`)
}

/** The transport's connection failure: a `TransportUnavailable` of `connect` that says why. */
const expectConnectFailure = (error: unknown, why: RegExp) => {
  expect(error).toMatchObject({ _tag: "TransportUnavailable", operation: "connect" })
  expect((error as Error).message).toMatch(why)
}

/** Credentials the server refused: an `AuthenticationFailed` of `connect` with the server's words and address. */
const expectAuthenticationFailed = (error: unknown, port: number) => {
  expect(error).toMatchObject({
    _tag: "AuthenticationFailed",
    operation: "connect",
    server: expect.stringContaining(`127.0.0.1:${port}`),
    reason: expect.stringMatching(/authorization violation/i)
  })
  expect((error as Error).message).toMatch(new RegExp(`127\\.0\\.0\\.1:${port}.*authorization violation`, "i"))
}

const connectWith = (options: NatsTransport.NatsTransportOptions) =>
  NatsTransport.make({ ...options, connectionOptions: { timeout: 3_000, ...options.connectionOptions } })

const Note = Schema.Struct({ text: Schema.String })
let topics = 0
const noteTopic = () => Topic.make({ name: `secrets.notes${++topics}`, schema: Note })

// ---------------------------------------------------------------------------

describe("NATS secrets: the capture", () => {
  it("sees a secret written to the console, stdout, stderr or an Effect log (so that finding none means something)", async () => {
    const { captured } = await attempt(
      Effect.gen(function* () {
        yield* Effect.sync(() => {
          console.log(`log ${PASSWORD}`)
          process.stdout.write(`out ${TOKEN}\n`)
          process.stderr.write(encoder.encode(`err ${foreignSeed}\n`))
        })
        yield* Effect.logDebug("debug", { seed: credsSeed })
      })
    )
    const joined = captured.lines.join("\n")
    for (const secret of [PASSWORD, TOKEN, foreignSeed, credsSeed]) expect(joined).toContain(secret)
  })
})

describe("NATS secrets: a failed connection", () => {
  it("with a wrong password fails with AuthenticationFailed, with the server's words and address, and shows neither password", async () => {
    const { exit, captured } = await attempt(connectWith({ servers: userServer.url, user: USER, pass: WRONG_PASSWORD }))
    expectAuthenticationFailed(failureOf(exit, captured), userServer.port)
  })

  it("with a wrong token fails with AuthenticationFailed and shows no token", async () => {
    const { exit, captured } = await attempt(connectWith({ servers: tokenServer.url, token: WRONG_TOKEN }))
    expectAuthenticationFailed(failureOf(exit, captured), tokenServer.port)
  })

  it("with a wrong password or token in the server URL fails with AuthenticationFailed and shows no secret, with or without a scheme", async () => {
    for (const [servers, port] of [
      [`nats://${USER}:${WRONG_PASSWORD}@127.0.0.1:${userServer.port}`, userServer.port],
      [`${USER}:${WRONG_PASSWORD}@127.0.0.1:${userServer.port}`, userServer.port],
      [`nats://${WRONG_TOKEN}@127.0.0.1:${tokenServer.port}`, tokenServer.port],
      // The right password for another server: the token server refuses it.
      [`nats://${USER}:${PASSWORD}@127.0.0.1:${tokenServer.port}`, tokenServer.port]
    ] as const) {
      const { exit, captured } = await attempt(connectWith({ servers }))
      const error = failureOf(exit, captured)
      expectAuthenticationFailed(error, port)
      // The address is the URL without its user info.
      expect((error as { server?: string }).server).not.toContain("@")
    }
  })

  it("to a malformed server URL with user:password@ in it fails with InvalidConfig naming servers, and shows no password", async () => {
    // Node's URL parser keeps the whole input (credentials included) on its error.
    for (const servers of [
      `nats://${USER}:${PASSWORD}@[::1`,
      `nats://${USER}:${PASSWORD}@127.0.0.1:not-a-port`,
      `${USER}:${PASSWORD}@127.0.0.1:${userServer.port}:extra`
    ]) {
      const { exit, captured } = await attempt(connectWith({ servers }))
      expect(failureOf(exit, captured)).toMatchObject({ _tag: "InvalidConfig", option: "servers" })
    }
  })

  it("to servers whose URLs carry different credentials, or other ones than user and pass, fails with InvalidConfig and shows none of them", async () => {
    for (const options of [
      {
        servers: [
          `nats://${USER}:${PASSWORD}@127.0.0.1:${userServer.port}`,
          `nats://${TOKEN}@127.0.0.1:${tokenServer.port}`
        ]
      },
      { servers: `nats://${USER}:${WRONG_PASSWORD}@127.0.0.1:${userServer.port}`, user: USER, pass: PASSWORD }
    ] satisfies Array<NatsTransport.NatsTransportOptions>) {
      const { exit, captured } = await attempt(connectWith(options))
      expect(failureOf(exit, captured)).toMatchObject({ _tag: "InvalidConfig", option: "servers" })
    }
  })

  it("with an nkey seed the server does not know fails with AuthenticationFailed and shows no seed", async () => {
    const { exit, captured } = await attempt(connectWith({ servers: nkeyServer.url, nkeySeed: foreignSeed }))
    expectAuthenticationFailed(failureOf(exit, captured), nkeyServer.port)
  })

  it("with a mistyped nkey seed says so and shows no seed", async () => {
    const { exit, captured } = await attempt(connectWith({ servers: nkeyServer.url, nkeySeed: mistypedSeed }))
    expectConnectFailure(failureOf(exit, captured), /invalid encoded key/i)
  })

  it("with a TLS client key, to a server without TLS, shows no part of the key", async () => {
    for (const handshakeFirst of [false, true]) {
      const { exit, captured } = await attempt(
        connectWith({ servers: tokenServer.url, token: TOKEN, tls: { key: tlsKey, handshakeFirst } })
      )
      expectConnectFailure(failureOf(exit, captured), /tls|ssl/i)
    }
  })

  it("with a credentials file the server does not accept fails with AuthenticationFailed and shows neither its seed nor its JWT", async () => {
    const { exit, captured } = await attempt(connectWith({ servers: nkeyServer.url, credentialsFile }))
    expectAuthenticationFailed(failureOf(exit, captured), nkeyServer.port)
  })

  it("to a closed port, with credentials of every kind, says the connection was refused and shows none of them", async () => {
    const servers = `127.0.0.1:${closedPort}`
    for (const options of [
      { servers, user: USER, pass: PASSWORD },
      { servers, token: TOKEN },
      { servers, nkeySeed: foreignSeed },
      { servers, credentialsFile },
      { servers: `nats://${USER}:${PASSWORD}@${servers}` }
    ] satisfies Array<NatsTransport.NatsTransportOptions>) {
      const { exit, captured } = await attempt(connectWith(options))
      expectConnectFailure(failureOf(exit, captured), /refused/i)
    }
  })

  it("through the Promise face, Sluice.connect rejects with the typed error (AuthenticationFailed, TransportUnavailable), which shows no secret", async () => {
    for (const [options, tag] of [
      [{ servers: userServer.url, user: USER, pass: WRONG_PASSWORD }, "AuthenticationFailed"],
      [{ servers: tokenServer.url, token: WRONG_TOKEN }, "AuthenticationFailed"],
      [{ servers: nkeyServer.url, credentialsFile }, "AuthenticationFailed"],
      [{ servers: `nats://${USER}:${WRONG_PASSWORD}@127.0.0.1:${userServer.port}` }, "AuthenticationFailed"],
      [{ servers: `nats://${USER}:${PASSWORD}@127.0.0.1:${closedPort}` }, "TransportUnavailable"]
    ] satisfies Array<readonly [NatsTransport.NatsTransportOptions, string]>) {
      const { result: error, captured } = await capturing(() =>
        Sluice.connect(NatsTransport.nats(options)).then(
          async (client) => {
            await client.close()
            return expect.fail("expected Sluice.connect to reject")
          },
          (rejection: unknown) => rejection
        )
      )
      expectNoSecret({
        ...textsOf(error),
        ...Object.fromEntries(captured.lines.map((line, i) => [`output line ${i + 1}`, line]))
      })
      // The rejection is the typed error itself, saying why.
      expect(error).toMatchObject({ _tag: tag, operation: "connect" })
      expect((error as Error).message).toMatch(/authorization violation|refused/i)
    }
  })
})

describe("NATS secrets: a working connection", () => {
  const authenticated: ReadonlyArray<readonly [string, () => NatsTransport.NatsTransportOptions]> = [
    ["a password", () => ({ servers: userServer.url, user: USER, pass: PASSWORD })],
    ["a token", () => ({ servers: tokenServer.url, token: TOKEN })],
    ["an nkey seed", () => ({ servers: nkeyServer.url, nkeySeed: decoder.decode(allowedUser.getSeed()) })],
    // As the NATS CLI and the Go client read a URL: nats.js alone would ignore these.
    ["user:password in the server URL", () => ({ servers: `nats://${USER}:${PASSWORD}@127.0.0.1:${userServer.port}` })],
    [
      "user:password in a server URL without a scheme",
      () => ({ servers: `${USER}:${PASSWORD}@127.0.0.1:${userServer.port}` })
    ],
    [
      "a password with reserved characters, percent-encoded in the server URL",
      () => ({ servers: [`nats://${USER}:${encodeURIComponent(RESERVED_PASSWORD)}@127.0.0.1:${reservedServer.port}`] })
    ],
    [
      "a password with reserved characters, written as it is in the server URL, and the same as user and pass",
      () => ({
        servers: `nats://${USER}:${RESERVED_PASSWORD}@127.0.0.1:${reservedServer.port}`,
        user: USER,
        pass: RESERVED_PASSWORD
      })
    ],
    ["a token in the server URL", () => ({ servers: `nats://${TOKEN}@127.0.0.1:${tokenServer.port}` })]
  ]

  for (const [how, options] of authenticated) {
    it(`authenticated with ${how}: operations that fail show no secret`, async () => {
      const { exit, captured } = await attempt(
        Effect.gen(function* () {
          const transport = yield* connectWith({ ...options(), requestTimeout: "2 seconds" })
          const bus = Bus.make(transport)
          // The credentials work: a message goes through.
          const notes = noteTopic()
          yield* bus.publish(notes, { text: "hello" })
          const [received] = yield* Stream.unwrap(
            bus.subscribe(notes, { group: "reader", start: StartPosition.all })
          ).pipe(Stream.take(1), Stream.runCollect)
          expect(received?.payload).toEqual({ text: "hello" })

          const missing = Topic.make({ name: "secrets.never-created", schema: Note })
          const failures = [
            yield* Effect.flip(
              transport.publish([{ topic: missing.name, id: "m-1", headers: {}, payload: encoder.encode("{}") }])
            ),
            yield* Effect.flip(bus.topicInfo(missing)),
            yield* Effect.flip(transport.lag(notes.name, "no-such-group")),
            yield* Effect.flip(Effect.scoped(transport.subscribe({ topic: missing.name, group: "g" }))),
            // The server refuses three replicas on a single server, with its own message in the error.
            yield* Effect.flip(transport.ensureTopic({ name: "secrets.replicated", replicas: 3 })),
            // Checked before anything is sent.
            yield* Effect.flip(bus.publish(notes, { text: "x" }, { key: "line\nbreak" }))
          ]
          return failures
        })
      )
      const failures = succeeded(exit)
      expect(failures.map((failure) => failure._tag)).toEqual([
        "TopicNotFound",
        "TopicNotFound",
        "GroupNotFound",
        "TopicNotFound",
        "InvalidConfig",
        "InvalidName"
      ])
      expect(failures[4]?.message).toMatch(/replicas > 1 not supported/)
      expectNoSecret({
        ...Object.fromEntries(
          failures.flatMap((failure, i) =>
            Object.entries(textsOf(failure)).map(([where, text]) => [`failure ${i + 1} ${where}`, text])
          )
        ),
        ...Object.fromEntries(captured.lines.map((line, i) => [`output line ${i + 1}`, line]))
      })
    })
  }

  it("a group name taken by a push consumer fails with Conflict, which shows no secret", async () => {
    const notes = noteTopic()
    const plain = await connect({ servers: userServer.url, user: USER, pass: PASSWORD })
    try {
      const jsm = await jetstreamManager(plain)
      const { exit, captured } = await attempt(
        Effect.gen(function* () {
          const transport = yield* connectWith({ servers: `nats://${USER}:${PASSWORD}@127.0.0.1:${userServer.port}` })
          yield* transport.ensureTopic({ name: notes.name })
          yield* Effect.promise(() =>
            jsm.consumers.add(notes.name.replaceAll(".", "~"), {
              durable_name: "pushed",
              ack_policy: AckPolicy.Explicit,
              deliver_subject: `deliver.${PASSWORD}`
            })
          )
          return yield* Effect.scoped(transport.subscribe({ topic: notes.name, group: "pushed" }))
        })
      )
      const error = failureOf(exit, captured)
      expect(error).toMatchObject({ _tag: "Conflict", group: "pushed", server: `127.0.0.1:${userServer.port}` })
    } finally {
      await plain.close()
    }
  })

  it("a debug flag slipped into connectionOptions prints no CONNECT frame and no password", async () => {
    // `debug` is left out of the options' type because nats.js would print every frame, CONNECT included.
    const smuggled = { debug: true } as unknown as NonNullable<NatsTransport.NatsTransportOptions["connectionOptions"]>
    const { exit, captured } = await attempt(
      Effect.gen(function* () {
        const transport = yield* connectWith({
          servers: userServer.url,
          user: USER,
          pass: PASSWORD,
          connectionOptions: smuggled
        })
        return yield* transport.topicInfo("secrets.nothing-here").pipe(Effect.flip)
      })
    )
    expect(Exit.isSuccess(exit) && exit.value._tag).toBe("TopicNotFound")
    expect(captured.lines.filter((line) => /CONNECT/.test(line))).toEqual([])
    expectNoSecret(Object.fromEntries(captured.lines.map((line, i) => [`output line ${i + 1}`, line])))
  })

  it("when the server goes away, the failures that follow show no password: a publish, its time running out, a consumer's done", async () => {
    const server = await NatsServer.start({ args: ["--user", USER, "--pass", PASSWORD] })
    try {
      const { exit, captured } = await attempt(
        Effect.gen(function* () {
          const transport = yield* connectWith({
            servers: `nats://${USER}:${PASSWORD}@127.0.0.1:${server.port}`,
            requestTimeout: "500 millis",
            disconnectTimeout: "1 second",
            connectionOptions: { reconnectTimeWait: 100 }
          })
          const bus = Bus.make(transport, { publishTimeout: "1 second" })
          const notes = noteTopic()
          yield* bus.publish(notes, { text: "before" })
          const consumer = yield* bus.consume(notes, { group: "readers" }, () => Effect.void)
          yield* Effect.promise(() => server.kill("SIGKILL"))
          const publish = yield* Effect.flip(
            transport.publish([{ topic: notes.name, id: "m-1", headers: {}, payload: encoder.encode("{}") }])
          )
          const info = yield* Effect.flip(transport.topicInfo(notes.name))
          const timedOut = yield* Effect.flip(bus.publish(notes, { text: "after" }))
          const done = yield* Effect.flip(consumer.done)
          return [publish, info, timedOut, done]
        })
      )
      const failures = succeeded(exit)
      expect(failures.map((failure) => failure._tag)).toEqual([
        "TransportUnavailable",
        "TransportUnavailable",
        "TransportUnavailable",
        "TransportUnavailable"
      ])
      expect(failures[2]?.message).toMatch(/not confirmed within 1s/)
      expect(failures[3]?.message).toMatch(/127\.0\.0\.1:\d+ has been lost for 1s/)
      expectNoSecret({
        ...Object.fromEntries(
          failures.flatMap((failure, i) =>
            Object.entries(textsOf(failure)).map(([where, text]) => [`failure ${i + 1} ${where}`, text])
          )
        ),
        ...Object.fromEntries(captured.lines.map((line, i) => [`output line ${i + 1}`, line]))
      })
    } finally {
      await server.stop()
    }
  })

  it("through the Promise face, a failing operation rejects with an error that shows no secret", async () => {
    const { result: errors, captured } = await capturing(async () => {
      const client = await Sluice.connect(NatsTransport.nats({ servers: userServer.url, user: USER, pass: PASSWORD }))
      try {
        const missing = Topic.make({ name: "secrets.promise-missing", schema: Note })
        const notes = noteTopic()
        await client.publish(notes, { text: "ok" })
        return await Promise.all([
          client.topicInfo(missing).then(
            () => expect.fail("expected topicInfo to reject"),
            (error: unknown) => error
          ),
          client.lag(notes, "nobody").then(
            () => expect.fail("expected lag to reject"),
            (error: unknown) => error
          )
        ])
      } finally {
        await client.close()
      }
    })
    expect(errors.map((error) => (error as { _tag?: string })._tag)).toEqual(["TopicNotFound", "GroupNotFound"])
    expectNoSecret({
      ...Object.fromEntries(
        errors.flatMap((error, i) =>
          Object.entries(textsOf(error)).map(([where, text]) => [`error ${i + 1} ${where}`, text])
        )
      ),
      ...Object.fromEntries(captured.lines.map((line, i) => [`output line ${i + 1}`, line]))
    })
  })
})
