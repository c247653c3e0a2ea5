/**
 * Every OS sockbuf has no tables for: each call throws one clear error naming the OS.
 *
 * @module
 */
import type { Platform } from "./types.ts";

/** A platform whose every call throws, naming `os`. */
export function unsupported(os: string): Platform {
  const fail = (): never => {
    throw new Error(`sockbuf does not support ${os}: it runs on linux and darwin (macOS)`);
  };
  return {
    os,
    inspect: fail,
    tcpInfo: fail,
    getNotSentLowat: fail,
    setNotSentLowat: fail,
    error: fail,
    written: fail,
    listSockets: fail,
    listSocketsJson: fail,
    inspectProcessSocket: fail,
    sockets: {
      openFds: fail,
      address: fail,
      matches: fail,
      isStream: fail,
      identity: fail,
      closed: fail,
      notFound: fail,
    },
  };
}
