/**
 * The one IP literal parser (_ip.ts) against libc's `inet_pton`, reached through
 * python3's `socket.inet_pton`: an independent parser of the same grammar. Strict mode (the
 * routing helper's gateway check) must accept exactly what `inet_pton` accepts and give the
 * same 16 bytes; the forgiving mode (runtimes' peer addresses) must agree wherever strict
 * mode accepts, and also take `[brackets]` and a `%zone`.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import { parseIpLiteral } from "../_ip.ts";
import { validateIp } from "../route/_validate.ts";
import { hasTool, hex as hexOf, needs } from "./_helpers.ts";

/** Seeded, so a failure can be run again. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

const SEEDS = [
  "0.0.0.0",
  "127.0.0.1",
  "255.255.255.255",
  "10.0.0.1",
  "::",
  "::1",
  "1::",
  "fe80::1",
  "2001:db8::1:0:0:1",
  "2001:0db8:0000:0000:0001:0000:0000:0001",
  "1:2:3:4:5:6:7:8",
  "1:2:3:4:5:6:7::",
  "::2:3:4:5:6:7:8",
  "::ffff:192.168.1.1",
  "::192.168.1.1",
  "64:ff9b::10.0.0.1",
  "1:2:3:4:5:6:1.2.3.4",
  "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255",
];

/** Valid seeds, hand-picked near misses, and random edits of the seeds. */
function corpus(n: number): string[] {
  const out = new Set<string>([
    ...SEEDS,
    "",
    ":",
    ":::",
    "1.2.3",
    "1.2.3.4.5",
    "01.2.3.4",
    "1.2.3.04",
    "00.0.0.0",
    "256.1.1.1",
    "1.2.3.4 ",
    " 1.2.3.4",
    "1.2.3.4\n",
    "1::2::3",
    "12345::",
    ":1::",
    "::1:",
    "1:2:3:4:5:6:7",
    "1:2:3:4:5:6:7:8:9",
    "1:2:3:4:5:6:7:8::",
    "::1:2:3:4:5:6:7:8",
    "1:2:3:4:5:6:7:1.2.3.4",
    "::ffff:1.2.3",
    "::ffff:01.2.3.4",
    "1.2.3.4::",
    "::1.2.3.4:5",
    "[::1]",
    "fe80::1%eth0",
    "::g",
    "０.０.０.０", // fullwidth digits
    "1٫2.3.4",
  ]);
  const alphabet = "0123456789abcdefABCDEF:.:.:g%[] ";
  const next = rng(0x5eed);
  const pick = (s: string) => s[Math.floor(next() * s.length)];
  while (out.size < n) {
    let s = SEEDS[Math.floor(next() * SEEDS.length)];
    for (let edits = 1 + Math.floor(next() * 3); edits > 0; edits--) {
      const at = Math.floor(next() * (s.length + 1));
      const op = next();
      if (op < 0.4) s = s.slice(0, at) + pick(alphabet) + s.slice(at); // insert
      else if (op < 0.7) s = s.slice(0, at) + s.slice(at + 1); // delete
      else s = s.slice(0, at) + pick(alphabet) + s.slice(at + 1); // replace
    }
    out.add(s);
  }
  return [...out];
}

/** libc's answer for each text: 32 hex digits (IPv4 as ::ffff:a.b.c.d), or "-" if refused. */
function inetPton(texts: string[]): string[] {
  const script = `
import json, socket, sys
out = []
for t in json.load(sys.stdin):
    try:
        fam = socket.AF_INET6 if ":" in t else socket.AF_INET
        b = socket.inet_pton(fam, t)
        out.append(("00" * 10 + "ffff" + b.hex()) if fam == socket.AF_INET else b.hex())
    except (OSError, ValueError, UnicodeEncodeError):
        out.append("-")
json.dump(out, sys.stdout)
`;
  const r = spawnSync("python3", ["-c", script], { input: JSON.stringify(texts), encoding: "utf8" });
  if (r.status !== 0) throw new Error(`python3 failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

const hex = (b: Uint8Array | undefined) => b === undefined ? "-" : hexOf(b);

describe("IP literals", () => {
  it("strict parsing accepts exactly what libc's inet_pton accepts, with the same bytes", (t) => {
    if (!needs(t, hasTool("python3", ["-c", "import socket; socket.inet_pton"]), "python3")) return;
    const texts = corpus(20_000);
    const want = inetPton(texts);
    let accepted = 0;
    const wrong: string[] = [];
    texts.forEach((text, i) => {
      const got = hex(parseIpLiteral(text, { strict: true })?.bytes);
      if (got !== "-") accepted++;
      if (got !== want[i]) wrong.push(`${JSON.stringify(text)}: ours ${got}, inet_pton ${want[i]}`);
    });
    assert.deepEqual(wrong.slice(0, 20), [], `${wrong.length} of ${texts.length} differ`);
    // The corpus must exercise both answers, or the comparison proves little.
    assert.ok(accepted > 1_000 && accepted < texts.length - 1_000, `${accepted} accepted`);
  });

  it("the forgiving form agrees wherever strict accepts, and takes brackets and zones", () => {
    for (const text of corpus(5_000)) {
      const strict = parseIpLiteral(text, { strict: true });
      if (strict) assert.deepEqual(parseIpLiteral(text), strict, text);
    }
    assert.equal(hex(parseIpLiteral("[fe80::1%eth0]")?.bytes), "fe800000000000000000000000000001");
    assert.equal(hex(parseIpLiteral("010.1.1.1")?.bytes), "00000000000000000000ffff0a010101");
    assert.equal(parseIpLiteral("[fe80::1]", { strict: true }), undefined);
    assert.equal(parseIpLiteral("fe80::1%eth0", { strict: true }), undefined);
  });

  it("the family is the one the text was written in", () => {
    assert.equal(parseIpLiteral("1.2.3.4")?.family, "inet");
    assert.equal(parseIpLiteral("::ffff:1.2.3.4")?.family, "inet6");
    assert.deepEqual(validateIp("::ffff:1.2.3.4"), { address: "::ffff:1.2.3.4", family: "inet6" });
    assert.deepEqual(validateIp("1.2.3.4"), { address: "1.2.3.4", family: "inet" });
    assert.throws(() => validateIp("010.1.1.1"), /^TypeError: gateway: expected an IPv4 or IPv6/);
  });
});
