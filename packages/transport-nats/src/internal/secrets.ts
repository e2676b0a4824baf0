/**
 * Keeping credentials out of logs and errors: the {@link Redactor} that every text leaving the NATS
 * transport (an error's reason, its cause) passes through.
 *
 * Invariant: the password, token, nkey seed, credentials and TLS key the transport was given never appear
 * in such a text, nor does the user-info part of a server URL. Secrets shorter than 4 characters are left
 * alone: they would blank out innocent text.
 *
 * Why: errors travel further than configuration (into logs, traces, dead letters), so a secret is removed
 * where text leaves the transport rather than trusted to every caller.
 */

const REDACTED = "[redacted]"
// `nats://user:password@host` and `tls://token@host`: the part before `@` is a secret.
const URL_USER_INFO = /(\w+:\/\/)[^/@\s]+@/g

/** Removes the given secrets from text. */
export interface Redactor {
  readonly text: (text: string) => string
  /** A plain copy of an error (name, message, code) with secrets removed, safe to keep as a `cause`. */
  readonly error: (error: unknown) => { readonly name: string; readonly message: string; readonly code?: string }
}

/** A redactor for these secrets; empty and very short ones are ignored (they would blank out innocent text). */
export const redactor = (secrets: ReadonlyArray<string | undefined>): Redactor => {
  const known = [...new Set(secrets.filter((s): s is string => s !== undefined && s.length >= 4))].sort(
    (a, b) => b.length - a.length
  )
  const text = (input: string): string => {
    let out = input.replace(URL_USER_INFO, `$1${REDACTED}@`)
    for (const secret of known) out = out.replaceAll(secret, REDACTED)
    return out
  }
  const error = (input: unknown) => {
    if (input instanceof Error) {
      const code = (input as { code?: unknown }).code
      return {
        name: input.name,
        message: text(input.message),
        ...(typeof code === "string" || typeof code === "number" ? { code: text(String(code)) } : {})
      }
    }
    return { name: "Error", message: text(String(input)) }
  }
  return { text, error }
}
