/**
 * What the demo, the examples, the benchmarks and the tests need and the library does not:
 * setting a receive buffer to play a slow reader, finding a listener's fd, and a loopback
 * connection whose reader stalls. Kept out of the `Platform` interface, which is what the
 * library itself needs.
 *
 * @module
 */
import * as net from "node:net";
import { testingPlatform } from "./platform/mod.ts";
import { resolveSocket } from "./resolve.ts";

/**
 * Sets `SO_RCVBUF` on `fd`. To play a slow reader, set it on the listening socket before it
 * accepts, so the window scale fits.
 */
export function setReceiveBuffer(fd: number, bytes: number): void {
  testingPlatform().setReceiveBuffer(fd, bytes);
}

/**
 * The fd of the socket (TCP or UDP, listening or not) bound to local port `port` with no
 * peer, found with the platform's own fd listing. Connected TCP sockets come from
 * `resolveSocket()` instead.
 */
export function unconnectedFd(port: number): number {
  const fd = testingPlatform().unconnected(port);
  if (fd === undefined) throw new Error(`No unconnected socket on local port ${port}`);
  return fd;
}

/** A loopback TCP connection whose server side never reads. */
export interface StalledPair {
  client: net.Socket;
  server: net.Server;
  /** The client's fd: the writer. */
  clientFd: number;
  clientPort: number;
  serverPort: number;
  /** Bytes the server side has read since `resumeReader()`. */
  read: number;
  /** Lets the server side read (and discard) from now on. */
  resumeReader(): void;
  /** Closes the server side at once; unread data makes the kernel send RST. */
  resetReader(): void;
  close(): Promise<void>;
}

/** Opens a loopback connection (IPv4 or IPv6) whose accepting side does not read. */
export async function stalledPair(
  host = "127.0.0.1",
  options: { rcvbuf?: number } = {},
): Promise<StalledPair> {
  const accepted: net.Socket[] = [];
  const server = net.createServer({ pauseOnConnect: true }, (s) => accepted.push(s));
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const serverPort = (server.address() as net.AddressInfo).port;
  if (options.rcvbuf) setReceiveBuffer(unconnectedFd(serverPort), options.rcvbuf);
  const client = net.connect(serverPort, host);
  await new Promise<void>((resolve, reject) => {
    client.once("connect", resolve);
    client.once("error", reject);
  });
  while (accepted.length === 0) await new Promise((r) => setTimeout(r, 5));
  const clientPort = client.localPort!;
  const pair: StalledPair = {
    client,
    server,
    clientFd: (await resolveSocket(client)).fd,
    clientPort,
    serverPort,
    read: 0,
    resumeReader() {
      for (const s of accepted) {
        s.on("data", (d: Uint8Array) => {
          pair.read += d.length;
        }).resume();
      }
    },
    resetReader() {
      for (const s of accepted) s.on("error", () => {}).destroy();
    },
    async close() {
      client.destroy();
      for (const s of accepted) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  return pair;
}

/** Sleeps `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
