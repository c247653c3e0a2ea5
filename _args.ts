/**
 * Argument checks, one message style for all of them: `Expected NAME as WHAT, got VALUE`,
 * a `TypeError` for the wrong type and a `RangeError` for a value out of range, as
 * denoland/std does.
 *
 * @module
 */

/** The largest C `int`: the bound on fds, byte counts and pids. */
export const INT_MAX = 2 ** 31 - 1;

/** What a value is, for messages: `the string "5"`, `the number 5`, `null`, `an object`. */
export function described(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  switch (typeof value) {
    case "string":
      return `the string ${JSON.stringify(value.length > 40 ? value.slice(0, 40) + "…" : value)}`;
    case "number":
    case "boolean":
      return `the ${typeof value} ${value}`;
    case "bigint":
      return `the bigint ${value}n`;
    case "symbol":
    case "function":
      return `a ${typeof value}`;
    default:
      return Array.isArray(value) ? "an array" : "an object";
  }
}

/** Checks an integer argument from `min` to `max`; returns it with -0 made 0 (FFI rejects -0). */
export function checkInt(name: string, value: unknown, min: number, max: number = INT_MAX): number {
  if (typeof value !== "number") throw new TypeError(`Expected ${name} as a number, got ${described(value)}`);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`Expected ${name} as an integer from ${min} to ${max}, got ${value}`);
  }
  return value + 0;
}

/** Validates a raw fd argument. */
export function checkFd(fd: unknown): number {
  return checkInt("a file descriptor", fd, 0);
}

/** Checks that an options argument is an object (or left out). */
export function checkOptions(options: unknown): void {
  if (options !== undefined && (typeof options !== "object" || options === null)) {
    throw new TypeError(`Expected options as an object, got ${described(options)}`);
  }
}

/**
 * Checks a millisecond option: a number from 0 up, finite unless `infinite` (a timeout that
 * never fires). Any length works: `later()` in `_wait.ts` chains timers past setTimeout's limit.
 */
export function checkMs(name: string, value: unknown, fallback: number, infinite = false): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number") {
    throw new TypeError(`Expected ${name} as a number of milliseconds, got ${described(value)}`);
  }
  if (!(value >= 0) || (value === Infinity && !infinite)) {
    throw new RangeError(
      infinite
        ? `Expected ${name} as a number of milliseconds from 0 to Infinity, got ${value}`
        : `Expected ${name} as a finite number of milliseconds from 0, got ${value}`,
    );
  }
  return value;
}

/** Checks a `signal` option. */
export function checkSignal(value: unknown): AbortSignal | undefined {
  if (value === undefined || value instanceof AbortSignal) return value;
  throw new TypeError(`Expected signal as an AbortSignal, got ${described(value)}`);
}

/** Runs a synchronous call as the async face: a throw becomes a rejection. */
export function settle<T>(call: () => T): Promise<T> {
  try {
    return Promise.resolve(call());
  } catch (err) {
    return Promise.reject(err);
  }
}
