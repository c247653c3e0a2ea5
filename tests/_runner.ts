/**
 * A recording runner for the routing tests: it starts nothing, keeps every call's argv and
 * stdin, and answers from a responder the test writes (default: exit 0, no output).
 */
import type { Runner, RunResult } from "../route/runner.ts";
import { checkCommand } from "../route/runner.ts";

/** One recorded call. */
export interface Call {
  file: string;
  args: string[];
  stdin?: string;
}

/** A runner that records, plus what it recorded. */
export interface Recorder {
  runner: Runner;
  calls: Call[];
  /** Each call as one line: `file arg arg…`, stdin after ` <<< ` when there is any. */
  lines(): string[];
}

/** Makes a recording runner; `respond` gives each call's result (return undefined for success). */
export function recorder(
  respond: (call: Call, index: number) => Partial<RunResult> | undefined = () => undefined,
): Recorder {
  const calls: Call[] = [];
  const runner: Runner = (file, args, options) => {
    // The same checks the real runner makes, so a test cannot pass what the real one refuses.
    checkCommand(file, args);
    const call: Call = {
      file,
      args: [...args],
      ...(options?.stdin === undefined ? {} : { stdin: options.stdin }),
    };
    calls.push(call);
    const r = respond(call, calls.length - 1) ?? {};
    return Promise.resolve({ code: r.code ?? 0, stdout: r.stdout ?? "", stderr: r.stderr ?? "" });
  };
  return {
    runner,
    calls,
    lines: () =>
      calls.map((c) => [c.file, ...c.args].join(" ") + (c.stdin === undefined ? "" : ` <<< ${c.stdin}`)),
  };
}

/** True when any recorded pfctl call disables pf (`-d`, alone or in a flag group such as `-df`). */
export function disablesPf(calls: readonly Call[]): boolean {
  return calls.some((c) => c.args.some((a) => a === "-d" || /^-[A-Za-z]*d/.test(a)));
}
