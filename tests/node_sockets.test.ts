/**
 * Node's own socket objects (issue 17): node:net and node:tls sockets, http/https requests
 * and responses, http2 sessions and streams, and the `ws` package's WebSocket, each checked
 * against `ss -tmi` on the same connection. Two connections of each kind are open at once
 * and carry different byte counts, so numbers read from the wrong socket would not match.
 *
 * Written for Node; Deno's and Bun's node: modules run the same checks where they give the
 * same objects, and skip with the reason where they do not.
 */
import assert from "node:assert/strict";
import * as http from "node:http";
import * as http2 from "node:http2";
import * as https from "node:https";
import * as net from "node:net";
import * as tls from "node:tls";
import process from "node:process";
import { describe, it } from "node:test";
import { readlinkSync } from "node:fs";
import { createRequire } from "node:module";
import { inspect, resolveSocket, SockbufError, type SocketLike, tcpInfo } from "../mod.ts";
import { hasTool, needs, selfSigned, sleep, ssFor } from "./_helpers.ts";

const linux = process.platform === "linux";

/** The part of the `ws` package used here (loaded with require: `deno test` runs without package.json). */
interface WsSocket {
  readonly _socket?: net.Socket;
  send(data: Uint8Array): void;
  terminate(): void;
  once(event: string, listener: (...args: unknown[]) => void): void;
}
const ws = createRequire(import.meta.url)("ws") as {
  WebSocket: new (url: string) => WsSocket;
  WebSocketServer: new (options: { host: string; port: number }) => {
    once(event: "listening", listener: () => void): void;
    on(event: "connection", listener: (ws: WsSocket) => void): void;
    address(): net.AddressInfo;
    close(done: () => void): void;
  };
};
const { cert, key } = linux ? selfSigned() : { cert: "", key: "" };

/** One connection of a kind: the object a user would pass, and its own ports. */
interface Conn {
  subject: unknown;
  localPort: number;
  peerPort: number;
}
/** A kind of object, and how to open connections of it carrying `bytes` bytes each way. */
interface Kind {
  name: string;
  /** Why this runtime cannot run it, or false. */
  skip: string | false;
  open(bytes: number[]): Promise<{ conns: Conn[]; close(): Promise<void> }>;
}

const port = (s: net.Server | tls.Server | http2.Http2Server) => (s.address() as net.AddressInfo).port;
const listening = (s: net.Server) => new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
const closed = (s: net.Server) => new Promise<void>((r) => s.close(() => r()));
const pattern = (n: number) => new Uint8Array(n).fill(0x62);

/** Reads `n` bytes from a stream, then resolves. */
function drain(s: NodeJS.ReadableStream, n: number): Promise<void> {
  let got = 0;
  return new Promise((resolve) => {
    s.on("data", (d: Uint8Array) => {
      got += d.length;
      if (got >= n) resolve();
    });
  });
}

const KINDS: Kind[] = [
  {
    name: "node:net socket (accepted)",
    skip: false,
    async open(bytes) {
      const accepted: net.Socket[] = [];
      const server = net.createServer((s) => accepted.push(s));
      await listening(server);
      const clients: net.Socket[] = [];
      const conns: Conn[] = [];
      for (const n of bytes) {
        const c = net.connect(port(server), "127.0.0.1");
        clients.push(c);
        await new Promise((r) => c.once("connect", r));
        while (accepted.length < clients.length) await sleep(5);
        const s = accepted.at(-1)!;
        const got = drain(c, n);
        s.write(pattern(n));
        await got;
        conns.push({ subject: s, localPort: s.localPort!, peerPort: s.remotePort! });
      }
      return {
        conns,
        async close() {
          for (const c of [...clients, ...accepted]) c.destroy();
          await closed(server);
        },
      };
    },
  },
  {
    name: "node:tls socket (client side)",
    skip: false,
    async open(bytes) {
      const accepted: tls.TLSSocket[] = [];
      const server = tls.createServer({ cert, key }, (s) => accepted.push(s));
      await listening(server);
      const clients: tls.TLSSocket[] = [];
      const conns: Conn[] = [];
      for (const n of bytes) {
        const c = tls.connect({ port: port(server), host: "127.0.0.1", rejectUnauthorized: false });
        clients.push(c);
        await new Promise((r) => c.once("secureConnect", r));
        while (accepted.length < clients.length) await sleep(5);
        const got = drain(accepted.at(-1)!, n);
        c.write(pattern(n));
        await got;
        conns.push({ subject: c, localPort: c.localPort!, peerPort: c.remotePort! });
      }
      return {
        conns,
        async close() {
          for (const c of [...clients, ...accepted]) c.destroy();
          await closed(server);
        },
      };
    },
  },
  ...(["http", "https"] as const).flatMap((proto): Kind[] =>
    (["req.socket", "res.socket", "req"] as const).map((form) => ({
      name: `node:${proto} ${form}`,
      skip: false,
      async open(bytes) {
        const seen: { req: http.IncomingMessage; res: http.ServerResponse }[] = [];
        const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
          seen.push({ req, res });
          res.writeHead(200, { "content-type": "application/octet-stream" });
          res.write(pattern(Number(req.url!.slice(1))));
        };
        const server = proto === "http"
          ? http.createServer(handler)
          : https.createServer({ cert, key }, handler);
        await listening(server);
        const agent = proto === "http"
          ? new http.Agent({ keepAlive: false })
          : new https.Agent({ keepAlive: false, rejectUnauthorized: false });
        const responses: http.IncomingMessage[] = [];
        const conns: Conn[] = [];
        for (const n of bytes) {
          const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
            (proto === "http" ? http : https).get({
              host: "127.0.0.1",
              port: port(server),
              path: `/${n}`,
              agent,
            }, resolve)
              .on("error", reject);
          });
          responses.push(res);
          await drain(res, n);
          const s = seen.at(-1)!;
          const subject = form === "req.socket" ? s.req.socket : form === "res.socket" ? s.res.socket : s.req;
          conns.push({ subject, localPort: s.req.socket.localPort!, peerPort: s.req.socket.remotePort! });
        }
        return {
          conns,
          async close() {
            for (const r of responses) r.destroy();
            for (const s of seen) s.res.destroy();
            agent.destroy();
            server.closeAllConnections();
            await closed(server);
          },
        };
      },
    }))
  ),
  ...(["session", "session.socket", "stream"] as const).map((form): Kind => ({
    name: `node:http2 ${form} (server side)`,
    skip: false,
    async open(bytes) {
      const server = http2.createServer();
      const streams: http2.ServerHttp2Stream[] = [];
      // deno-lint-ignore no-explicit-any -- Deno's types give the stream event a plain Http2Stream
      server.on("stream", (stream: any, headers: http2.IncomingHttpHeaders) => {
        streams.push(stream);
        stream.respond({ ":status": 200 });
        stream.write(pattern(Number(String(headers[":path"]).slice(1))));
      });
      await listening(server as unknown as net.Server);
      const clients: http2.ClientHttp2Session[] = [];
      const conns: Conn[] = [];
      for (const n of bytes) {
        const client = http2.connect(`http://127.0.0.1:${port(server)}`);
        clients.push(client);
        const req = client.request({ ":path": `/${n}` });
        await drain(req, n);
        const stream = streams.at(-1)!;
        const session = stream.session!;
        const subject = form === "session" ? session : form === "stream" ? stream : session.socket;
        conns.push({ subject, localPort: session.socket.localPort!, peerPort: session.socket.remotePort! });
      }
      return {
        conns,
        async close() {
          for (const c of clients) c.destroy();
          await new Promise((r) => server.close(r));
        },
      };
    },
  })),
  {
    name: "ws WebSocket (server side)",
    skip: false,
    async open(bytes) {
      const wss = new ws.WebSocketServer({ host: "127.0.0.1", port: 0 });
      await new Promise<void>((r) => wss.once("listening", r));
      const accepted: WsSocket[] = [];
      wss.on("connection", (ws) => accepted.push(ws));
      const clients: WsSocket[] = [];
      const conns: Conn[] = [];
      for (const n of bytes) {
        const c = new ws.WebSocket(`ws://127.0.0.1:${wss.address().port}`);
        clients.push(c);
        await new Promise((r) => c.once("open", r));
        while (accepted.length < clients.length) await sleep(5);
        const server = accepted.at(-1)!;
        const got = new Promise((r) => c.once("message", r));
        server.send(pattern(n));
        await got;
        const sock = server._socket!;
        conns.push({ subject: server, localPort: sock.localPort!, peerPort: sock.remotePort! });
      }
      return {
        conns,
        async close() {
          for (const c of clients) c.terminate();
          for (const s of accepted) s.terminate();
          await new Promise<void>((r) => wss.close(r));
        },
      };
    },
  },
];

/** What `/proc/self/fd/N` points at, or undefined once the fd is closed. */
function fdLink(fd: number): string | undefined {
  try {
    return readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return undefined;
  }
}

/** A counter from `ss -i`'s line, e.g. `bytes_received:123`. */
const ssCount = (raw: string, name: string): number | undefined => {
  const m = new RegExp(`\\b${name}:(\\d+)`).exec(raw);
  return m ? Number(m[1]) : undefined;
};

/** `ss -i`'s line without the fields that move on an idle connection (times since, rates). */
const still = (raw: string): string =>
  raw.replace(/\b(last\w+|rtt|ato|rto|busy|send|pacing_rate|delivery_rate|rcv_rtt|minrtt)[: ][^ \n]+/g, "");

describe("Node's socket objects agree with ss -tmi", { skip: !linux && "Linux only: ss" }, () => {
  for (const kind of KINDS) {
    it(kind.name, { skip: kind.skip }, async (t) => {
      if (!needs(t, hasTool("ss", ["-V"]), "ss from iproute2")) return;
      // Two connections at once, with different traffic: a wrong socket cannot match both.
      const { conns, close } = await kind.open([20_000, 70_000]);
      try {
        await sleep(50); // let the last ACKs land, so the counters stand still
        for (const c of conns) {
          const before = still(ssFor(c.localPort, c.peerPort).raw);
          const buf = await inspect(c.subject as SocketLike);
          const info = await tcpInfo(c.subject as SocketLike);
          const ss = ssFor(c.localPort, c.peerPort);
          assert.equal(still(ss.raw), before, "the connection moved while it was read");
          assert.equal(buf.queued, ss.sendQ, `queued = Send-Q: ${ss.raw}`);
          assert.equal(buf.size, ss.skmem.tb, "size = skmem tb");
          assert.equal(buf.unsent, ss.notsent ?? 0, "unsent = notsent");
          assert.equal(info.os, "linux");
          if (info.os !== "linux") return;
          assert.equal(info.bytesReceived, ssCount(ss.raw, "bytes_received") ?? 0, "bytes_received");
          assert.equal(info.bytesAcked, ssCount(ss.raw, "bytes_acked") ?? 0, "bytes_acked");
          assert.equal(info.segsIn, ssCount(ss.raw, "segs_in"), "segs_in");
          assert.equal(info.segsOut, ssCount(ss.raw, "segs_out"), "segs_out");
        }
        assert.notEqual(
          ssCount(ssFor(conns[0].localPort, conns[0].peerPort).raw, "bytes_acked"),
          ssCount(ssFor(conns[1].localPort, conns[1].peerPort).raw, "bytes_acked"),
          "the two connections should differ",
        );
      } finally {
        await close();
      }
    });
  }
});

describe("Node's socket objects are reuse-safe", { skip: !linux && "Linux only" }, () => {
  for (const kind of KINDS) {
    it(`${kind.name}: once closed, its fd number's next socket is refused, not read`, {
      skip: kind.skip,
    }, async () => {
      const { conns, close } = await kind.open([1000]);
      const subject = conns[0].subject as SocketLike;
      const accepted: net.Socket[] = [];
      const other = net.createServer((s) => accepted.push(s.on("error", () => {})));
      await listening(other);
      const fresh: net.Socket[] = [];
      let shut = false;
      try {
        const oldFd = (await resolveSocket(subject)).fd;
        assert.equal(typeof (await inspect(subject)).queued, "number");
        const link = readlinkSync(`/proc/self/fd/${oldFd}`);
        await close();
        shut = true;
        // Until the runtime has really closed the fd (a TLS socket's close can lag).
        for (let i = 0; i < 200 && fdLink(oldFd) === link; i++) await sleep(10);
        // Connect until a new socket (either end) lands on the old fd number.
        let reused = false;
        for (let i = 0; i < 64 && !reused; i++) {
          const c = net.connect(port(other), "127.0.0.1");
          fresh.push(c);
          await new Promise((r) => c.once("connect", r));
          while (accepted.length < fresh.length) await sleep(2);
          for (const s of [c, accepted.at(-1)!]) reused ||= (await resolveSocket(s)).fd === oldFd;
        }
        assert.ok(reused, `no new socket took fd ${oldFd}`);
        await assert.rejects(inspect(subject), (err) => {
          assert.ok(err instanceof SockbufError, String(err));
          assert.equal(err.code, "ENOTCONN");
          assert.match(err.message, new RegExp(`fd ${oldFd} now belongs to another socket`));
          return true;
        });
      } finally {
        for (const s of [...fresh, ...accepted]) s.destroy();
        await closed(other);
        if (!shut) await close();
      }
    });
  }
});
