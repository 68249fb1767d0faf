/**
 * What the fake Graph API knows, as Meta would: pages and their tokens, fans and their last
 * interaction (the 24 h window), comments (private-reply state), Messenger Profile call times, and
 * everything it was sent. Plain in-memory state; `reset()` returns to the configured start.
 */
import { createHash, randomBytes } from 'node:crypto';

export interface FakePage {
  id: string;
  name: string;
  accessToken: string;
}

export interface FakeUser {
  psid: string;
  firstName: string;
  lastName: string;
  locale?: string;
  profilePic?: string;
  timezone?: number;
  /** PSIDs are page-scoped; omit to make the user known to every page. */
  pageId?: string;
  /** The person's app-scoped id (what Meta's data deletion callback names), for the ID Matching API. */
  asid?: string;
}

export interface FakeComment {
  commentId: string;
  postId: string;
  /** The commenter's app-scoped id (NOT a PSID). Equal to the page id for the Page's own comments. */
  fromId: string;
  createdTime: Date;
  /** PSID revealed by a private reply; derived from `fromId` when omitted. */
  psid?: string;
  message?: string;
}

export interface SentMessage {
  at: Date;
  pageId: string;
  messageId: string;
  /** The `recipient` object as sent. */
  recipient: Record<string, string>;
  /** The PSID it reached (for a private reply: the commenter's PSID). */
  psid: string | null;
  commentId?: string;
  messagingType?: string;
  tag?: string;
  notificationType?: string;
  metadata?: string;
  message: Record<string, unknown>;
}

export interface SenderActionRecord {
  at: Date;
  pageId: string;
  psid: string;
  action: string;
}

export interface PublicReplyRecord {
  at: Date;
  pageId: string;
  commentId: string;
  id: string;
  message: string;
}

export interface RecordedCall {
  at: Date;
  method: string;
  /** Path relative to where the router is mounted, e.g. `/v25.0/123/messages`. */
  path: string;
  query: Record<string, unknown>;
  body: unknown;
  /** HTTP status answered; 0 when no answer was given (injected timeout). */
  status: number;
  response: unknown;
  pageId?: string;
  recipient?: Record<string, string>;
}

/** What a fault's `match` sees: the call before it is answered. */
export type CallPreview = Omit<RecordedCall, 'status' | 'response'>;

export type FaultKind = '5xx' | '613' | '551' | '190' | 'timeout';

export interface FaultSpec {
  kind: FaultKind;
  /** How many matching calls fail (default 1). */
  count?: number;
  match?: (call: CallPreview) => boolean;
  /** `timeout`: how long the request hangs before its socket is destroyed (default 30 s). */
  hangMs?: number;
  /** `timeout`: process the call (the message IS delivered) but never answer — the dangerous case. */
  delivered?: boolean;
}

interface ActiveFault {
  spec: FaultSpec;
  remaining: number;
}

const key = (pageId: string, psid: string): string => `${pageId}\u0000${psid}`;

export class FakeGraphState {
  readonly pages = new Map<string, FakePage>();
  readonly tokens = new Map<string, FakePage>();
  readonly revoked = new Set<string>();
  readonly users = new Map<string, FakeUser>();
  /** Page-scoped PSIDs Meta knows (they wrote, or were reached by a private reply). */
  readonly knownPsids = new Set<string>();
  readonly unreachable = new Set<string>();
  readonly interactions = new Map<string, Date>();
  readonly comments = new Map<string, FakeComment & { pageId: string }>();
  readonly privateReplied = new Map<string, string>(); // commentId → message id
  readonly profileCallTimes = new Map<string, number[]>();
  readonly messengerProfiles = new Map<string, Record<string, unknown>>();
  readonly subscriptions = new Map<string, string[]>();
  readonly threadOwners = new Map<string, string>();

  readonly calls: RecordedCall[] = [];
  readonly messages: SentMessage[] = [];
  readonly senderActions: SenderActionRecord[] = [];
  readonly publicReplies: PublicReplyRecord[] = [];

  private faults: ActiveFault[] = [];
  private readonly issuedIds = new Set<string>();
  private counter = 0;

  constructor(
    private readonly initialPages: readonly FakePage[],
    private readonly initialUsers: readonly FakeUser[] = [],
  ) {
    this.reset();
  }

  reset(): void {
    this.pages.clear();
    this.tokens.clear();
    this.revoked.clear();
    this.users.clear();
    this.knownPsids.clear();
    this.unreachable.clear();
    this.interactions.clear();
    this.comments.clear();
    this.privateReplied.clear();
    this.profileCallTimes.clear();
    this.messengerProfiles.clear();
    this.subscriptions.clear();
    this.threadOwners.clear();
    this.calls.length = 0;
    this.messages.length = 0;
    this.senderActions.length = 0;
    this.publicReplies.length = 0;
    this.faults = [];
    for (const p of this.initialPages) this.addPage(p);
    for (const u of this.initialUsers) this.addUser(u);
  }

  addPage(p: FakePage): void {
    this.pages.set(p.id, { ...p });
    this.tokens.set(p.accessToken, { ...p });
  }

  addUser(u: FakeUser): void {
    this.users.set(u.pageId === undefined ? key('*', u.psid) : key(u.pageId, u.psid), { ...u });
  }

  findUser(pageId: string, psid: string): FakeUser | undefined {
    return this.users.get(key(pageId, psid)) ?? this.users.get(key('*', psid));
  }

  isKnown(pageId: string, psid: string): boolean {
    return this.knownPsids.has(key(pageId, psid)) || this.findUser(pageId, psid) !== undefined;
  }

  noteUserInteraction(pageId: string, psid: string, at: Date): void {
    const k = key(pageId, psid);
    this.knownPsids.add(k);
    const prev = this.interactions.get(k);
    if (!prev || prev.getTime() < at.getTime()) this.interactions.set(k, at);
  }

  lastInteraction(pageId: string, psid: string): Date | undefined {
    return this.interactions.get(key(pageId, psid));
  }

  markKnown(pageId: string, psid: string): void {
    this.knownPsids.add(key(pageId, psid));
  }

  setUnreachable(pageId: string, psid: string, unreachable = true): void {
    if (unreachable) this.unreachable.add(key(pageId, psid));
    else this.unreachable.delete(key(pageId, psid));
  }

  isUnreachable(pageId: string, psid: string): boolean {
    return this.unreachable.has(key(pageId, psid));
  }

  noteComment(pageId: string, c: FakeComment): void {
    this.comments.set(c.commentId, { ...c, pageId });
  }

  /** The PSID Meta reveals for a commenter through a private reply (stable per page and commenter). */
  psidForCommenter(pageId: string, c: FakeComment): string {
    if (c.psid) return c.psid;
    const h = createHash('sha256').update(`${pageId}:${c.fromId}`).digest();
    return `7${(h.readBigUInt64BE(0) % 10n ** 15n).toString().padStart(15, '0')}`;
  }

  /**
   * The ID Matching API's view of a person: their PSID on each page that knows them. A person is the
   * same behind a user added with this `asid` and behind comments written as `fromId === asid`.
   */
  idsForPages(asid: string): { psid: string; pageId: string }[] {
    const found = new Map<string, { psid: string; pageId: string }>();
    for (const u of this.users.values()) {
      if (u.asid !== asid) continue;
      const pages = u.pageId === undefined ? [...this.pages.keys()] : [u.pageId];
      for (const pageId of pages) found.set(key(pageId, u.psid), { psid: u.psid, pageId });
    }
    for (const pageId of this.pages.keys()) {
      const psid = this.psidForCommenter(pageId, {
        commentId: '',
        postId: '',
        fromId: asid,
        createdTime: new Date(0),
      });
      if (this.knownPsids.has(key(pageId, psid))) found.set(key(pageId, psid), { psid, pageId });
    }
    return [...found.values()];
  }

  setThreadOwner(pageId: string, psid: string, appId: string): void {
    this.threadOwners.set(key(pageId, psid), appId);
  }

  threadOwner(pageId: string, psid: string): string | undefined {
    return this.threadOwners.get(key(pageId, psid));
  }

  /**
   * Sliding-window limiter for the Messenger Profile API. Returns false (and records nothing) when the
   * page already made `max` calls in the last `windowMs`.
   */
  takeProfileCall(pageId: string, nowMs: number, max: number, windowMs: number): boolean {
    const times = (this.profileCallTimes.get(pageId) ?? []).filter((t) => t > nowMs - windowMs);
    if (times.length >= max) {
      this.profileCallTimes.set(pageId, times);
      return false;
    }
    times.push(nowMs);
    this.profileCallTimes.set(pageId, times);
    return true;
  }

  inject(spec: FaultSpec): void {
    const count = spec.count ?? 1;
    if (!Number.isInteger(count) || count < 1)
      throw new Error(`fake graph: fault count must be ≥ 1 (${count})`);
    this.faults.push({ spec, remaining: count });
  }

  /** Consumes one matching fault, if any. */
  takeFault(call: CallPreview): FaultSpec | undefined {
    const f = this.faults.find((x) => x.remaining > 0 && (x.spec.match ? x.spec.match(call) : true));
    if (!f) return undefined;
    f.remaining--;
    this.faults = this.faults.filter((x) => x.remaining > 0);
    return f.spec;
  }

  pendingFaults(): number {
    return this.faults.reduce((n, f) => n + f.remaining, 0);
  }

  /** Unique Send API message id, shaped like Meta's (`m_…`). */
  newMessageId(): string {
    let id: string;
    do {
      id = `m_${randomBytes(24).toString('base64url')}`;
    } while (this.issuedIds.has(id));
    this.issuedIds.add(id);
    return id;
  }

  newObjectId(prefix: string): string {
    this.counter++;
    return `${prefix}_${String(1_000_000 + this.counter)}`;
  }

  messagesTo(psid: string): SentMessage[] {
    return this.messages.filter((m) => m.psid === psid);
  }
}
