import net from 'node:net';
import type { Logger } from 'pino';
import { runCommand, type ServerStats } from './commands/index.js';
import { CursorRegistry } from './cursors.js';
import type { Journal } from './journal.js';
import type { Storage } from './storage.js';
import { MISSING, pathValues, type Doc } from './values.js';
import {
  decodeMessage,
  encodeMsgReply,
  encodeOpReply,
  HEADER_SIZE,
  WireProtocolError,
  type IncomingMessage,
} from './wire.js';

export interface ServerOptions {
  host: string;
  port: number;
  logger: Logger;
  storage: Storage;
  journal: Journal | null;
  /** Frames larger than this close the connection (MongoDB's own limit by default). */
  maxMessageBytes: number;
  cursorTimeoutMs: number;
  ttlIntervalMs: number;
}

/** A TCP server speaking the MongoDB wire protocol over `storage`. */
export class WireServer {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly cursors: CursorRegistry;
  private readonly stats: ServerStats = {
    startedAt: Date.now(),
    connectionsCurrent: 0,
    connectionsTotal: 0,
    opcounters: { insert: 0, query: 0, update: 0, delete: 0, getmore: 0, command: 0 },
  };
  private timers: NodeJS.Timeout[] = [];
  private nextConnectionId = 1;
  private stopping = false;

  constructor(private readonly opts: ServerOptions) {
    this.cursors = new CursorRegistry(opts.cursorTimeoutMs);
    this.server = net.createServer((socket) => this.accept(socket));
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.port, this.opts.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const ttl = setInterval(() => this.sweepTtl(), this.opts.ttlIntervalMs);
    const cursors = setInterval(
      () => this.cursors.sweep(),
      Math.max(50, Math.min(60_000, this.opts.cursorTimeoutMs / 2)),
    );
    ttl.unref();
    cursors.unref();
    this.timers.push(ttl, cursors);
    return (this.server.address() as net.AddressInfo).port;
  }

  async close(): Promise<void> {
    this.stopping = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
    this.cursors.clear();
  }

  /** Deletes documents whose TTL index date has passed, as mongod's TTL monitor does. */
  sweepTtl(now = Date.now()): number {
    const { storage, journal, logger } = this.opts;
    let removed = 0;
    for (const db of storage.databaseNames()) {
      for (const coll of storage.collections(db)) {
        for (const ix of coll.indexes) {
          if (ix.ttlSeconds === null || ix.fields.length !== 1) continue;
          const cutoff = now - ix.ttlSeconds * 1000;
          const expired: Doc[] = [];
          for (const doc of coll.docs.values()) {
            let earliest = Infinity;
            for (const v of pathValues(doc, ix.fields[0]!)) {
              if (v !== MISSING && v instanceof Date) earliest = Math.min(earliest, v.getTime());
            }
            if (earliest <= cutoff) expired.push(doc);
          }
          for (const doc of expired) storage.remove(coll, doc);
          removed += expired.length;
        }
      }
    }
    if (removed > 0 && journal) {
      journal
        .waitDurable()
        .catch((err: unknown) => logger.error({ err }, 'embedded mongo: TTL journal write failed'));
    }
    return removed;
  }

  private accept(socket: net.Socket): void {
    if (this.stopping) {
      socket.destroy();
      return;
    }
    const connectionId = this.nextConnectionId++;
    const remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    const log = this.opts.logger.child({ connectionId, remote });
    this.sockets.add(socket);
    this.stats.connectionsCurrent++;
    this.stats.connectionsTotal++;
    socket.setNoDelay(true);

    let buffered: Buffer[] = [];
    let bufferedBytes = 0;
    const queue: Buffer[] = [];
    let busy = false;
    let dead = false;

    const kill = (reason: string) => {
      if (dead) return;
      dead = true;
      log.warn({ reason }, 'embedded mongo: closing connection after bad input');
      socket.destroy();
    };

    const pump = async () => {
      if (busy) return;
      busy = true;
      try {
        while (queue.length > 0 && !dead) {
          const frame = queue.shift()!;
          let msg: IncomingMessage;
          try {
            msg = decodeMessage(frame);
          } catch (err) {
            kill(err instanceof WireProtocolError ? err.message : `undecodable message: ${String(err)}`);
            return;
          }
          const reply = await this.handle(msg, connectionId, log);
          if (reply && !dead) socket.write(reply);
        }
      } catch (err) {
        log.error({ err }, 'embedded mongo: internal error while serving a connection');
        kill('internal error');
      } finally {
        busy = false;
      }
    };

    socket.on('data', (chunk: Buffer) => {
      if (dead) return;
      buffered.push(chunk);
      bufferedBytes += chunk.length;
      while (bufferedBytes >= 4) {
        if (buffered[0]!.length < 4) buffered = [Buffer.concat(buffered, bufferedBytes)];
        const len = buffered[0]!.readInt32LE(0);
        if (len < HEADER_SIZE + 1) return kill(`message length ${len} is too small`);
        if (len > this.opts.maxMessageBytes) {
          return kill(`message length ${len} exceeds the limit of ${this.opts.maxMessageBytes} bytes`);
        }
        if (bufferedBytes < len) break;
        const all = buffered.length === 1 ? buffered[0]! : Buffer.concat(buffered, bufferedBytes);
        queue.push(all.subarray(0, len));
        const rest = all.subarray(len);
        buffered = rest.length ? [rest] : [];
        bufferedBytes = rest.length;
      }
      void pump();
    });
    socket.on('error', (err) => log.debug({ err }, 'embedded mongo: socket error'));
    socket.on('close', () => {
      dead = true;
      this.sockets.delete(socket);
      this.stats.connectionsCurrent--;
    });
  }

  private async handle(msg: IncomingMessage, connectionId: number, log: Logger): Promise<Buffer | null> {
    const { storage, journal } = this.opts;
    let cmd: Doc;
    let db: string;
    if (msg.kind === 'query') {
      if (!msg.fullCollectionName.endsWith('.$cmd')) {
        return encodeOpReply(msg.header.requestId, {
          $err: 'OP_QUERY is only supported for commands',
          code: 352,
          ok: 0,
        });
      }
      db = msg.fullCollectionName.slice(0, -'.$cmd'.length);
      cmd = (msg.query.$query as Doc | undefined) ?? msg.query;
    } else {
      cmd = msg.command;
      db = typeof cmd.$db === 'string' ? cmd.$db : 'admin';
    }
    const journalHadWrites = journal?.appendedCount ?? 0;
    let reply = runCommand(cmd, {
      db,
      storage,
      cursors: this.cursors,
      connectionId,
      stats: this.stats,
      logger: log,
    });
    if (journal && journal.appendedCount !== journalHadWrites) {
      try {
        await journal.waitDurable();
      } catch (err) {
        reply = {
          ok: 0,
          code: 1,
          codeName: 'InternalError',
          errmsg: `write could not be made durable: ${(err as Error).message}`,
        };
      }
    }
    if (msg.kind === 'query') return encodeOpReply(msg.header.requestId, reply);
    if (msg.moreToCome) return null;
    return encodeMsgReply(msg.header.requestId, reply);
  }
}
