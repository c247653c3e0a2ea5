/**
 * The pf driver's files: the state directory, token files, and the temp files pf.conf is swapped
 * through. They are written as root, in directories another user might reach. So: the state
 * directory must be a real directory owned by us (or root) that group and others cannot write,
 * and is made 0700 if missing; every file is created with O_CREAT|O_EXCL|O_NOFOLLOW under an
 * unpredictable name and renamed into place, so nothing planted can be written through; and a
 * token is read only from a regular 0600 file of ours, so nobody else's number reaches `pfctl -X`.
 * Anything else is a `PfStateError`, and then nothing is changed and no `pfctl -X` runs.
 *
 * Token files: `pf-anchor-<anchor>.token` or `pf-persist-<user>.token`, the anchor or user with
 * every byte outside `A-Z a-z 0-9 _ . -` written `%XX` (`/` as `%2F`), so each mode and anchor or
 * user has a file of its own. `/var/run` is emptied at boot, when pf's references are gone too.
 *
 * @module
 */
import { constants } from "node:fs";
import { type FileHandle, lstat, mkdir, open, readdir, rename, unlink } from "node:fs/promises";
import { basename, dirname } from "node:path";
import process from "node:process";
import { PfStateError } from "./errors.ts";

/** The uid whose files we trust besides root's: ours. Root can write anything anyway. */
function trusted(uid: number): boolean {
  return uid === 0 || uid === process.geteuid?.();
}

function errCode(err: unknown): string | undefined {
  return (err as { code?: string })?.code;
}

/**
 * Checks the state directory (lstat: never through a link), making it 0700 first if it is
 * missing and `create` is set. Returns false when it is missing and not made.
 *
 * @throws {PfStateError} for a symlink, a non-directory, another owner, or group/other write
 */
export async function checkStateDir(dir: string, create: boolean): Promise<boolean> {
  let st;
  try {
    st = await lstat(dir);
  } catch (err) {
    if (errCode(err) !== "ENOENT") throw err;
    if (!create) return false;
    // If someone else makes it first, recursive mkdir does not fail, so the checks below decide.
    await mkdir(dir, { recursive: true, mode: 0o700 });
    st = await lstat(dir);
  }
  if (st.isSymbolicLink()) {
    throw new PfStateError(
      dir,
      "symlink",
      "the pf state directory is a symbolic link; it must be a real directory",
    );
  }
  if (!st.isDirectory()) {
    throw new PfStateError(dir, "not-a-directory", "the pf state directory is not a directory");
  }
  if (!trusted(st.uid)) {
    throw new PfStateError(
      dir,
      "wrong-owner",
      `the pf state directory is owned by uid ${st.uid}, not by uid ${process.geteuid?.()} or root`,
    );
  }
  if ((st.mode & 0o022) !== 0) {
    throw new PfStateError(
      dir,
      "unsafe-mode",
      `the pf state directory has mode 0${(st.mode & 0o7777).toString(8)}: group or others can write it`,
    );
  }
  return true;
}

/**
 * The reference modes. A token file is named `pf-MODE-ENC.token`, ENC being the anchor (anchor
 * mode) or the user (persist mode) with every byte outside `A-Z a-z 0-9 _ . -` written `%XX`.
 *
 * Why no two (mode, name) pairs share a file: ENC is injective, since `%` is itself escaped and
 * so always starts a three-character escape, and reading left to right gives the name back
 * (decodeURIComponent does). Neither mode contains `-`, so the first `-` after `pf-` ends the mode
 * and the rest up to `.token` is ENC: the file name gives back both the mode and the name.
 */
export type TokenMode = "anchor" | "persist";

const TEMP_RANDOM_BYTES = 8;
/** `.sockbuf-` + 16 hex digits + `.tmp`: what a temp file adds to its target's name. */
const TEMP_SUFFIX_LENGTH = ".sockbuf-".length + 2 * TEMP_RANDOM_BYTES + ".tmp".length;
/** The longest file name macOS (and Linux) allow. */
const NAME_MAX = 255;

function encodeKey(name: string): string {
  let out = "";
  for (const byte of new TextEncoder().encode(name)) {
    const ch = String.fromCharCode(byte);
    out += /^[A-Za-z0-9_.-]$/.test(ch) ? ch : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/**
 * The token file for one mode and anchor or user.
 *
 * @throws {RangeError} if the name is too long for its token file's temp file to fit NAME_MAX
 */
export function tokenPath(stateDir: string, mode: TokenMode, name: string): string {
  const file = `pf-${mode}-${encodeKey(name)}.token`;
  if (file.length + TEMP_SUFFIX_LENGTH > NAME_MAX) {
    const most = NAME_MAX - TEMP_SUFFIX_LENGTH - `pf-${mode}-.token`.length;
    throw new RangeError(
      `${mode === "anchor" ? "anchor" : "user"}: ${
        JSON.stringify(name)
      } is too long to name its token file: ` +
        `${file.length - `pf-${mode}-.token`.length} bytes with / written %2F, at most ${most}`,
    );
  }
  return `${stateDir}/${file}`;
}

/**
 * Our token from `path`, or undefined if there is none. Opened without following a link and
 * checked on the open file (fstat), so what is checked is what is read.
 *
 * @throws {PfStateError} for a symlink, a non-regular file, another owner, or a mode other than 0600
 */
export async function readToken(path: string): Promise<string | undefined> {
  let handle: FileHandle;
  try {
    // O_NONBLOCK: a FIFO planted here must not block the open; fstat then refuses it.
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    if (errCode(err) === "ENOENT") return undefined;
    // O_NOFOLLOW fails with ELOOP on a symlink (EMLINK on FreeBSD).
    if ((errCode(err) === "ELOOP" || errCode(err) === "EMLINK") && (await lstat(path)).isSymbolicLink()) {
      throw new PfStateError(path, "symlink", "the pf token file is a symbolic link; its token is not used");
    }
    throw err;
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) {
      throw new PfStateError(
        path,
        "not-a-file",
        "the pf token file is not a regular file; its token is not used",
      );
    }
    if (!trusted(st.uid)) {
      throw new PfStateError(
        path,
        "wrong-owner",
        `the pf token file is owned by uid ${st.uid}, not by uid ${process.geteuid?.()} or root; its token is not used`,
      );
    }
    if ((st.mode & 0o7777) !== 0o600) {
      throw new PfStateError(
        path,
        "unsafe-mode",
        `the pf token file has mode 0${(st.mode & 0o7777).toString(8)}, not 0600; its token is not used`,
      );
    }
    const token = (await handle.readFile("utf8")).trim();
    return /^[0-9]{1,20}$/.test(token) ? token : undefined;
  } finally {
    await handle.close();
  }
}

/** Temp files older than this that are ours are leftovers of an interrupted run; younger ones may be a running one's. */
const STALE_TEMP_MS = 60_000;

/**
 * Looks at every temp-file name of `target` (ours, `TARGET.sockbuf-HEX.tmp`, and the fixed
 * `TARGET.sockbuf.tmp` of earlier versions). A leftover of ours (a regular file we own, older than
 * a minute) is removed: its content is never read, so nothing is lost. Anything else there is
 * refused rather than removed: someone who can write this directory put it there, and the admin
 * should see it.
 *
 * @throws {PfStateError} `foreign-file` for a link, a non-regular file or another user's file
 */
export async function clearStaleTemps(target: string): Promise<void> {
  const dir = dirname(target);
  const base = basename(target).replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const temp = new RegExp(`^${base}\\.sockbuf(-[0-9a-f]{${2 * TEMP_RANDOM_BYTES}})?\\.tmp$`);
  for (const name of await readdir(dir)) {
    if (!temp.test(name)) continue;
    const path = `${dir}/${name}`;
    let st;
    try {
      st = await lstat(path);
    } catch (err) {
      if (errCode(err) === "ENOENT") continue;
      throw err;
    }
    const what = st.isSymbolicLink()
      ? "a symbolic link"
      : !st.isFile()
      ? "not a regular file"
      : !trusted(st.uid)
      ? `owned by uid ${st.uid}`
      : undefined;
    if (what !== undefined) {
      throw new PfStateError(
        path,
        "foreign-file",
        `a file we did not make (${what}) sits at one of our temp-file names; nothing was changed: find out who made it, then remove it`,
      );
    }
    if (Date.now() - st.mtimeMs > STALE_TEMP_MS) await unlink(path);
  }
}

/**
 * Writes `text` to a new temp file beside `target`: created exclusively, never through a link,
 * under an unpredictable name, with exactly `mode`. Returns its path.
 */
export async function writeTemp(target: string, text: string, mode: number): Promise<string> {
  await clearStaleTemps(target);
  const random = Array.from(
    crypto.getRandomValues(new Uint8Array(TEMP_RANDOM_BYTES)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
  const tmp = `${target}.sockbuf-${random}.tmp`;
  let handle: FileHandle;
  try {
    handle = await open(
      tmp,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      0o600,
    );
  } catch (err) {
    if (errCode(err) === "EEXIST" || errCode(err) === "ELOOP") {
      throw new PfStateError(
        tmp,
        "foreign-file",
        "something already sits at our new temp file's name; nothing was written",
      );
    }
    throw err;
  }
  try {
    await handle.chmod(mode); // exactly, whatever the umask
    await handle.writeFile(text);
    await handle.sync();
    await handle.close();
  } catch (err) {
    await handle.close().catch(() => {});
    await unlink(tmp).catch(() => {}); // best effort: the write's own error is the one to report
    throw err;
  }
  return tmp;
}

/** Replaces `target` with `text` atomically (temp file, then rename, which replaces a link rather than following it). */
export async function writeAtomically(target: string, text: string, mode: number): Promise<void> {
  const tmp = await writeTemp(target, text, mode);
  try {
    await rename(tmp, target);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
}
