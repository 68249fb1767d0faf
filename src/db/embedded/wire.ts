import { deserialize, serialize, type Document } from 'bson';

/** Wire protocol opcodes (https://www.mongodb.com/docs/manual/reference/mongodb-wire-protocol/). */
export const OpCode = {
  REPLY: 1,
  QUERY: 2004,
  COMPRESSED: 2012,
  MSG: 2013,
} as const;

export const HEADER_SIZE = 16;
export const MAX_BSON_OBJECT_SIZE = 16 * 1024 * 1024;
export const MAX_MESSAGE_SIZE = 48_000_000;

const MSG_CHECKSUM_PRESENT = 1 << 0;
const MSG_MORE_TO_COME = 1 << 1;
const MSG_EXHAUST_ALLOWED = 1 << 16;
const MSG_KNOWN_FLAGS = MSG_CHECKSUM_PRESENT | MSG_MORE_TO_COME | MSG_EXHAUST_ALLOWED;

/** Raised for anything that makes a frame unusable; the server closes that connection. */
export class WireProtocolError extends Error {
  override name = 'WireProtocolError';
}

export interface MessageHeader {
  length: number;
  requestId: number;
  responseTo: number;
  opCode: number;
}

export interface QueryMessage {
  kind: 'query';
  header: MessageHeader;
  fullCollectionName: string;
  query: Document;
}

export interface CommandMessage {
  kind: 'msg';
  header: MessageHeader;
  /** The command with kind-1 document sequences folded in as arrays, as MongoDB does. */
  command: Document;
  moreToCome: boolean;
}

export type IncomingMessage = QueryMessage | CommandMessage;

/**
 * Documents keep MongoDB's JS-facing shapes: ObjectId, Date, Binary stay classes; int64
 * values that fit in 53 bits become numbers so mingo can compare them (bigger ones stay Long).
 */
const DESERIALIZE_OPTIONS = { promoteValues: true, promoteLongs: true, promoteBuffers: false } as const;

export function decodeDocument(buf: Uint8Array): Document {
  return deserialize(buf, DESERIALIZE_OPTIONS);
}

export function readHeader(buf: Buffer, offset = 0): MessageHeader {
  return {
    length: buf.readInt32LE(offset),
    requestId: buf.readInt32LE(offset + 4),
    responseTo: buf.readInt32LE(offset + 8),
    opCode: buf.readInt32LE(offset + 12),
  };
}

function readCString(buf: Buffer, offset: number, end: number): [string, number] {
  const zero = buf.indexOf(0, offset);
  if (zero < 0 || zero >= end) throw new WireProtocolError('unterminated cstring');
  return [buf.toString('utf8', offset, zero), zero + 1];
}

function readDocument(buf: Buffer, offset: number, end: number): [Document, number] {
  if (offset + 5 > end) throw new WireProtocolError('truncated BSON document');
  const size = buf.readInt32LE(offset);
  if (size < 5 || offset + size > end) throw new WireProtocolError(`invalid BSON document size ${size}`);
  if (size > MAX_BSON_OBJECT_SIZE + 16 * 1024)
    throw new WireProtocolError(`BSON document too large (${size})`);
  try {
    return [decodeDocument(buf.subarray(offset, offset + size)), offset + size];
  } catch (err) {
    throw new WireProtocolError(`malformed BSON: ${(err as Error).message}`);
  }
}

/** Decodes one complete frame (header included). Throws WireProtocolError on anything malformed. */
export function decodeMessage(frame: Buffer): IncomingMessage {
  const header = readHeader(frame);
  const end = header.length;
  if (header.opCode === OpCode.MSG) {
    const flags = frame.readUInt32LE(HEADER_SIZE);
    if ((flags & ~MSG_KNOWN_FLAGS & 0xffff) !== 0) {
      throw new WireProtocolError(`unknown required OP_MSG flag bits ${flags.toString(16)}`);
    }
    const bodyEnd = flags & MSG_CHECKSUM_PRESENT ? end - 4 : end;
    let offset = HEADER_SIZE + 4;
    let command: Document | undefined;
    const sequences: [string, Document[]][] = [];
    while (offset < bodyEnd) {
      const kind = frame[offset++];
      if (kind === 0) {
        if (command) throw new WireProtocolError('OP_MSG with more than one body section');
        [command, offset] = readDocument(frame, offset, bodyEnd);
      } else if (kind === 1) {
        if (offset + 4 > bodyEnd) throw new WireProtocolError('truncated document sequence');
        const size = frame.readInt32LE(offset);
        const seqEnd = offset + size;
        if (size < 5 || seqEnd > bodyEnd) throw new WireProtocolError('invalid document sequence size');
        let id: string;
        [id, offset] = readCString(frame, offset + 4, seqEnd);
        const docs: Document[] = [];
        while (offset < seqEnd) {
          let doc: Document;
          [doc, offset] = readDocument(frame, offset, seqEnd);
          docs.push(doc);
        }
        sequences.push([id, docs]);
      } else {
        throw new WireProtocolError(`unknown OP_MSG section kind ${String(kind)}`);
      }
    }
    if (!command) throw new WireProtocolError('OP_MSG without a body section');
    for (const [id, docs] of sequences) command[id] = docs;
    return { kind: 'msg', header, command, moreToCome: (flags & MSG_MORE_TO_COME) !== 0 };
  }
  if (header.opCode === OpCode.QUERY) {
    // flags (4 bytes), then the namespace, then numberToSkip and numberToReturn (8 bytes)
    const [fullCollectionName, afterName] = readCString(frame, HEADER_SIZE + 4, end);
    const [query] = readDocument(frame, afterName + 8, end);
    return { kind: 'query', header, fullCollectionName, query };
  }
  if (header.opCode === OpCode.COMPRESSED) {
    throw new WireProtocolError('OP_COMPRESSED received but compression was never negotiated');
  }
  throw new WireProtocolError(`unsupported opcode ${header.opCode}`);
}

let nextRequestId = 1;

function writeHeader(buf: Buffer, length: number, responseTo: number, opCode: number): void {
  buf.writeInt32LE(length, 0);
  buf.writeInt32LE(nextRequestId++ & 0x7fffffff, 4);
  buf.writeInt32LE(responseTo, 8);
  buf.writeInt32LE(opCode, 12);
}

/** OP_MSG reply with a single kind-0 section (the only form drivers accept in replies). */
export function encodeMsgReply(responseTo: number, body: Document): Buffer {
  const bson = serialize(body);
  const buf = Buffer.allocUnsafe(HEADER_SIZE + 5 + bson.length);
  writeHeader(buf, buf.length, responseTo, OpCode.MSG);
  buf.writeUInt32LE(0, HEADER_SIZE);
  buf[HEADER_SIZE + 4] = 0;
  buf.set(bson, HEADER_SIZE + 5);
  return buf;
}

/** Legacy OP_REPLY, used only to answer the OP_QUERY handshake. */
export function encodeOpReply(responseTo: number, doc: Document): Buffer {
  const bson = serialize(doc);
  const buf = Buffer.allocUnsafe(HEADER_SIZE + 20 + bson.length);
  writeHeader(buf, buf.length, responseTo, OpCode.REPLY);
  buf.writeInt32LE(0, HEADER_SIZE); // responseFlags
  buf.writeBigInt64LE(0n, HEADER_SIZE + 4); // cursorID
  buf.writeInt32LE(0, HEADER_SIZE + 12); // startingFrom
  buf.writeInt32LE(1, HEADER_SIZE + 16); // numberReturned
  buf.set(bson, HEADER_SIZE + 20);
  return buf;
}

/** OP_MSG request, used by the local liveness probe (lock.ts) and tests. */
export function encodeMsgRequest(requestId: number, body: Document): Buffer {
  const bson = serialize(body);
  const buf = Buffer.allocUnsafe(HEADER_SIZE + 5 + bson.length);
  buf.writeInt32LE(buf.length, 0);
  buf.writeInt32LE(requestId, 4);
  buf.writeInt32LE(0, 8);
  buf.writeInt32LE(OpCode.MSG, 12);
  buf.writeUInt32LE(0, HEADER_SIZE);
  buf[HEADER_SIZE + 4] = 0;
  buf.set(bson, HEADER_SIZE + 5);
  return buf;
}
