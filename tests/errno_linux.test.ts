/**
 * The Linux errno-name table against glibc's own names (`strerrorname_np`, glibc 2.32+),
 * compiled at test time.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { describe, it } from "node:test";
import { LINUX_ERRNO } from "../platform/linux/errno.ts";
import { errnoName } from "../platform/posix.ts";
import { hasTool, needs, run } from "./_helpers.ts";

describe("Linux errno names", { skip: process.platform !== "linux" && "Linux only: glibc" }, () => {
  it("match glibc's strerrorname_np for every number the table covers", (t) => {
    if (!needs(t, hasTool("cc"), "a C compiler (cc)")) return;
    const dir = mkdtempSync(join(tmpdir(), "sockbuf-errno-"));
    try {
      writeFileSync(
        join(dir, "e.c"),
        `#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
int main(void) {
  for (int i = 1; i < ${LINUX_ERRNO.length}; i++) { const char *n = strerrorname_np(i); printf("%d %s\\n", i, n ? n : ""); }
  return 0;
}
`,
      );
      run("cc", ["-o", join(dir, "e"), join(dir, "e.c")]);
      const lines = run(join(dir, "e"), []).trim().split("\n");
      assert.equal(lines.length, LINUX_ERRNO.length - 1);
      for (const line of lines) {
        const [n, name = ""] = line.split(" ");
        assert.equal(LINUX_ERRNO[Number(n)], name, `errno ${n}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("names an errno the table lacks by its number", () => {
    assert.equal(errnoName(LINUX_ERRNO, 9), "EBADF");
    assert.equal(errnoName(LINUX_ERRNO, 4000), "ERRNO_4000");
    assert.equal(errnoName(LINUX_ERRNO, 41), "ERRNO_41");
  });
});
