// Drives Examples/readers/node/mr-token-file.mjs for Tests/python/test_readers.py. Prints one JSON
// line per token returned, with its SHA-256 instead of the token.
//
//   node node_reader_check.mjs follow MS PATH...   read each path in turn for MS milliseconds
//   node node_reader_check.mjs once WAIT_MS PATH   one getToken with that wait; an error as JSON
//   node node_reader_check.mjs parse 0 PATH...     parse() of each file's text: its token's SHA-256 or null
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { TokenFile, parse } from "../../Examples/readers/node/mr-token-file.mjs";

const [mode, ms, ...paths] = process.argv.slice(2);

function describe(path, accessToken) {
  const [header, payload, signature] = accessToken.token.split(".");
  const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
  return {
    path,
    sha256: createHash("sha256").update(accessToken.token).digest("hex"),
    expiresOnTimestamp: accessToken.expiresOnTimestamp,
    returnedAt: Date.now(),
    exp: claims.exp,
    aid: claims.aid,
    alg: JSON.parse(Buffer.from(header, "base64url").toString("utf8")).alg,
    signatureBytes: Buffer.from(signature, "base64url").length,
  };
}

if (mode === "follow") {
  const readers = paths.map((path) => [path, new TokenFile(path, { waitMs: 30_000, minValidityMs: 200 })]);
  const end = Date.now() + Number(ms);
  while (Date.now() < end) {
    for (const [path, reader] of readers) {
      const token = await reader.getToken(["ignored/.default"]);
      console.log(JSON.stringify(describe(path, token)));
    }
  }
} else if (mode === "once") {
  const reader = new TokenFile(paths[0], { waitMs: Number(ms), minValidityMs: 100 });
  try {
    console.log(JSON.stringify(describe(paths[0], await reader.getToken())));
  } catch (error) {
    console.log(JSON.stringify({ error: error.name, message: error.message }));
  }
} else if (mode === "parse") {
  for (const path of paths) {
    const token = parse(readFileSync(path, "utf8"));
    console.log(JSON.stringify({ path, sha256: token === null ? null : createHash("sha256").update(token).digest("hex") }));
  }
} else {
  console.error("usage: node_reader_check.mjs follow MS PATH... | once WAIT_MS PATH | parse 0 PATH...");
  process.exit(2);
}
