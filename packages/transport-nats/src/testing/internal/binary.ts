/**
 * Where the `nats-server` executable is: first on PATH, else where Debian's package puts it.
 *
 * Invariant: it names an executable file, or nothing.
 *
 * Why: Debian installs it in /usr/sbin, outside a normal user's PATH.
 */
import { accessSync, constants } from "node:fs"
import { delimiter, join } from "node:path"

/** Debian's package puts it here, outside a normal user's PATH. */
const DEBIAN_PATH = "/usr/sbin/nats-server"

const isExecutable = (path: string): boolean => {
  try {
    accessSync(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/** The places {@link findNatsServer} looks, in order: for error messages. */
export const searchedPlaces = `PATH and ${DEBIAN_PATH}`

/** The `nats-server` found first on PATH, else Debian's; undefined when there is none. */
export const findNatsServer = (): string | undefined =>
  [
    ...(process.env.PATH ?? "")
      .split(delimiter)
      .filter((dir) => dir !== "")
      .map((dir) => join(dir, "nats-server")),
    DEBIAN_PATH
  ].find(isExecutable)
