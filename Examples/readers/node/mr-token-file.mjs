// Reads the Mixed Reality access token that mr-token-sidecar keeps fresh in a file.
//
// Copy this file into your application; it needs nothing but Node.js (18 or later).
//
//   import { TokenFile } from "./mr-token-file.mjs";
//
//   const tokens = new TokenFile("/var/run/mixedreality/token");
//   const { token, expiresOnTimestamp } = await tokens.getToken(); // waits for the first token
//
// The rules (docs/consuming-tokens.md):
// - At start the file may not exist yet: getToken waits for it (fs.watch on the folder wakes it),
//   up to `waitMs`, then rejects with TokenFileError naming the file.
// - Call getToken each time you need the token: it re-reads the file when it changed (one stat
//   per call) and keeps nothing past the token's expiry. It never returns a token that expires
//   within `minValidityMs`, nor a partial one.
// - It reads only a regular file of at most 1 MiB, opened without blocking: a FIFO or a device that
//   another container put at the path, or a huge file, is no token (it cannot block or exhaust the
//   application).
// - The result has the shape of @azure/core-auth's AccessToken. The file holds a Mixed Reality
//   token, not an Entra ID token: hand it to a Mixed Reality client as an AccessToken, never as a
//   TokenCredential, which the Azure SDKs would exchange at the STS again.

import { constants, watch } from "node:fs";
import { open, stat } from "node:fs/promises";
import { dirname } from "node:path";

const ENV_NAME = "MIXED_REALITY_ACCESS_TOKEN=";
const MAX_BYTES = 1 << 20;

/** No valid token appeared in the file within the wait. */
export class TokenFileError extends Error {
  constructor(message) {
    super(message);
    this.name = "TokenFileError";
  }
}

export class TokenFile {
  /**
   * @param {string} path the sidecar's file, in any of its formats (token, json, env)
   * @param {{waitMs?: number, minValidityMs?: number}} options how long getToken waits (default
   *   60 s) and the least validity of a token it returns (default 60 s)
   */
  constructor(path = "/var/run/mixedreality/token", { waitMs = 60_000, minValidityMs = 60_000 } = {}) {
    this.path = path;
    this.waitMs = waitMs;
    this.minValidityMs = minValidityMs;
    this.cached = null; // { identity, token: { token, expiresOnTimestamp } }
    this.problem = "no such file";
  }

  /**
   * The token, valid for at least minValidityMs (scopes are ignored: the file holds one
   * account's token).
   * @returns {Promise<{token: string, expiresOnTimestamp: number}>}
   */
  async getToken(_scopes, _options) {
    const deadline = Date.now() + this.waitMs;
    for (;;) {
      const token = await this.current();
      if (token) return token;
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        throw new TokenFileError(
          `no token valid for ${this.minValidityMs / 1000} s in ${this.path} after ${this.waitMs / 1000} s ` +
            `(${this.problem}): is mr-token-sidecar running? Its /status and logs say why not`,
        );
      }
      await this.nextChange(Math.min(remaining, 1000));
    }
  }

  async current() {
    let info;
    try {
      info = await stat(this.path, { bigint: true });
    } catch {
      this.problem = "no such file";
      return null;
    }
    const identity = `${info.dev}:${info.ino}:${info.size}:${info.mtimeNs}`;
    if (!this.cached || this.cached.identity !== identity) {
      const text = await this.read();
      if (text === null) return null;
      const token = parse(text);
      const expiresOnTimestamp = token && jwtExpiry(token);
      if (!expiresOnTimestamp) {
        this.problem = "no whole token in it";
        return null;
      }
      this.cached = { identity, token: { token, expiresOnTimestamp } };
    }
    if (this.cached.token.expiresOnTimestamp - Date.now() < this.minValidityMs) {
      this.problem = "the token in it expires too soon";
      return null;
    }
    return this.cached.token;
  }

  /** The file's text, or null: opened without blocking (a FIFO waits for a writer otherwise), a
   * regular file of at most MAX_BYTES. */
  async read() {
    let handle;
    try {
      handle = await open(this.path, constants.O_RDONLY | constants.O_NONBLOCK);
    } catch {
      this.problem = "cannot be opened";
      return null;
    }
    try {
      const info = await handle.stat();
      if (!info.isFile()) {
        this.problem = "not a regular file";
        return null;
      }
      // Sized from fstat; a file that grows while it is read is read on, up to the limit.
      let buffer = Buffer.alloc(Math.min(info.size, MAX_BYTES) + 1);
      let size = 0;
      for (;;) {
        if (size === buffer.length) {
          if (size > MAX_BYTES) break;
          buffer = Buffer.concat([buffer, Buffer.alloc(Math.min(buffer.length, MAX_BYTES + 1 - buffer.length))]);
        }
        const { bytesRead } = await handle.read(buffer, size, buffer.length - size, size);
        if (bytesRead === 0) break;
        size += bytesRead;
      }
      if (size > MAX_BYTES) {
        this.problem = "larger than 1 MiB";
        return null;
      }
      return buffer.toString("utf8", 0, size);
    } catch {
      this.problem = "cannot be read";
      return null;
    } finally {
      await handle.close();
    }
  }

  /** Resolves at the next change in the file's folder, or after `ms`. */
  nextChange(ms) {
    return new Promise((resolve) => {
      let watcher;
      const done = () => {
        clearTimeout(timer);
        watcher?.close();
        resolve();
      };
      const timer = setTimeout(done, ms);
      try {
        watcher = watch(dirname(this.path), { persistent: false }, done);
        watcher.on("error", () => {});
      } catch {
        // The folder does not exist yet: the timer wakes us.
      }
    });
  }
}

/** The token in a file's text, whatever its format; null when it holds none. */
export function parse(text) {
  text = text.trim();
  let token = null;
  if (text.startsWith("{")) {
    try {
      token = JSON.parse(text).accessToken;
    } catch {
      return null;
    }
  } else if (text.includes(ENV_NAME)) {
    const line = text.split("\n").find((l) => l.startsWith(ENV_NAME));
    if (!line) return null;
    token = line.slice(ENV_NAME.length);
    if (token.length >= 2 && token.startsWith("'") && token.endsWith("'")) {
      token = token.slice(1, -1).replaceAll("'\\''", "'");
    }
  } else {
    token = text;
  }
  if (typeof token !== "string" || token.split(".").length !== 3 || /\s/.test(token)) return null;
  return token;
}

/** The `exp` claim of a JWT in milliseconds, or null when the token is not a whole JWT. */
export function jwtExpiry(token) {
  const [header, payload, signature] = token.split(".");
  if (!header || !signature) return null;
  try {
    const exp = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")).exp;
    return typeof exp === "number" && Number.isFinite(exp) ? exp * 1000 : null;
  } catch {
    return null;
  }
}
