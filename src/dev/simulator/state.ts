/**
 * The simulator's memory: demo fans, what each fan did (in order), the comments it posted, and a
 * read of the fake Graph API's recorded calls turned into what a fan would see in Messenger and under
 * the Page's posts. Nothing here talks to the network; the router (index.ts) does.
 *
 * Ordering: every fan action and every recorded Graph call gets a sequence number in one timeline.
 * Recorded calls are folded in (`sync()`) right before a fan action is appended, so the timeline is
 * the true order of events as the fake Graph API and the simulator saw them.
 */

/** What the simulator needs from the fake Graph API (structural, so any compatible fake works). */
export interface FakeGraphCallLike {
  at?: number | string | Date;
  method: string;
  path: string;
  body?: unknown;
  status: number;
  response?: unknown;
}

export interface FakeGraphLike {
  readonly calls: readonly FakeGraphCallLike[];
  noteUserInteraction(pageId: string, psid: string, at: Date): void;
  noteComment(pageId: string, comment: SimulatorNotedComment): void;
  addUser(user: { psid: string; firstName: string; lastName: string; locale?: string }): void;
  /** The fake's own merged Messenger Profile, when it keeps one (preferred over replaying calls). */
  messengerProfile?(pageId: string): Record<string, unknown> | undefined;
}

/** What the simulator tells the fake Graph API about a comment it posted (private replies need it). */
export interface SimulatorNotedComment {
  commentId: string;
  postId: string;
  /** The commenter's app-scoped id (what `from.id` carries), not a PSID. */
  fromId: string;
  createdTime: Date;
  /** The PSID a private reply reaches. */
  psid?: string;
  message?: string;
}

export interface SimulatorPost {
  id: string;
  message: string;
  imageUrl?: string;
  /** ISO string, Date or ms. */
  createdTime: string | Date | number;
}

export interface SimFan {
  psid: string;
  /** The id a comment's `from.id` carries: not the PSID (§1.5). */
  userId: string;
  firstName: string;
  lastName: string;
  locale: string;
  demo: boolean;
}

export type FanActionKind = 'text' | 'quick_reply' | 'postback' | 'get_started' | 'referral';

export interface FanItem {
  seq: number;
  at: number;
  psid: string;
  from: 'fan';
  kind: FanActionKind;
  text?: string;
  payload?: string;
  title?: string;
  ref?: string;
  /** The webhook's answer (undefined until it comes back; 0 when unreachable). */
  webhookStatus?: number;
}

export interface PageItem {
  seq: number;
  at: number;
  psid: string;
  from: 'page';
  /** The Send API `message` object, when the call carried one. */
  message?: unknown;
  senderAction?: string;
  messagingType?: string;
  tag?: string;
  /** Set for private replies (recipient `comment_id`). */
  viaCommentId?: string;
}

/** A send the fake Graph API refused: shown to the developer in the thread, never to a real fan. */
export interface SystemItem {
  seq: number;
  at: number;
  psid: string;
  from: 'system';
  text: string;
}

export type ThreadItem = FanItem | PageItem | SystemItem;

export interface SimComment {
  id: string;
  postId: string;
  parentId: string;
  psid: string;
  fromId: string;
  fromName: string;
  message: string;
  createdTime: number;
  webhookStatus?: number;
  privateReply: boolean;
}

export interface PublicReply {
  id?: string;
  commentId: string;
  message: string;
  at: number;
}

export interface MessengerProfile {
  get_started?: { payload: string };
  greeting?: { locale: string; text: string }[];
  persistent_menu?: { locale: string; composer_input_disabled?: boolean; call_to_actions?: unknown[] }[];
  ice_breakers?: unknown[];
}

const SEND_PATH = /(?:^|\/)(?:v\d+\.\d+\/)?([^/]+)\/messages\/?$/;
const COMMENTS_PATH = /(?:^|\/)(?:v\d+\.\d+\/)?([^/]+)\/comments\/?$/;
const PROFILE_PATH = /(?:^|\/)(?:v\d+\.\d+\/)?([^/]+)\/messenger_profile\/?$/;

function toMs(at: FakeGraphCallLike['at']): number {
  if (typeof at === 'number') return at;
  if (at instanceof Date) return at.getTime();
  if (typeof at === 'string') {
    const t = Date.parse(at);
    if (!Number.isNaN(t)) return t;
  }
  return Date.now();
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Form-encoded Graph calls carry nested objects as JSON strings; JSON calls carry objects. */
function field(body: unknown, name: string): unknown {
  if (!isRecord(body)) return undefined;
  const v = body[name];
  if (typeof v === 'string' && (v.startsWith('{') || v.startsWith('['))) {
    try {
      return JSON.parse(v) as unknown;
    } catch {
      return v;
    }
  }
  return v;
}

function errorMessage(response: unknown): string {
  if (isRecord(response) && isRecord(response.error)) {
    const e = response.error;
    const code =
      e.code !== undefined
        ? ` (#${String(e.code)}${e.error_subcode ? `/${String(e.error_subcode)}` : ''})`
        : '';
    return `${typeof e.message === 'string' ? e.message : 'error'}${code}`;
  }
  return 'error';
}

export class SimulatorState {
  readonly fans = new Map<string, SimFan>();
  readonly comments = new Map<string, SimComment>();
  readonly publicReplies: PublicReply[] = [];
  profile: MessengerProfile = {};
  private readonly timeline: ThreadItem[] = [];
  private readonly lastSeqByFan = new Map<string, number>();
  private seq = 0;
  private scanned = 0;

  constructor(
    private readonly pageId: string,
    private readonly calls: () => readonly FakeGraphCallLike[],
  ) {}

  addFan(fan: SimFan): void {
    this.fans.set(fan.psid, fan);
  }

  /** Fold the calls recorded since the last look into the timeline. */
  sync(): void {
    const calls = this.calls();
    if (calls.length < this.scanned) this.scanned = 0; // the fake was reset
    for (; this.scanned < calls.length; this.scanned++) this.fold(calls[this.scanned]!);
  }

  appendFanAction(item: Omit<FanItem, 'seq' | 'at' | 'from'>): FanItem {
    this.sync();
    const full: FanItem = { ...item, seq: ++this.seq, at: Date.now(), from: 'fan' };
    this.push(full);
    return full;
  }

  /** The fan's thread after `after` (exclusive). */
  thread(psid: string, after = 0): ThreadItem[] {
    this.sync();
    const out: ThreadItem[] = [];
    // The timeline is ordered by seq: scan back to the cursor only.
    for (let i = this.timeline.length - 1; i >= 0; i--) {
      const it = this.timeline[i]!;
      if (it.seq <= after) break;
      if (it.psid === psid) out.push(it);
    }
    return out.reverse();
  }

  hasThread(psid: string): boolean {
    return this.lastSeqByFan.has(psid);
  }

  lastSeq(psid: string): number {
    return this.lastSeqByFan.get(psid) ?? 0;
  }

  get cursor(): number {
    return this.seq;
  }

  recordComment(c: SimComment): void {
    this.comments.set(c.id, c);
  }

  private push(item: ThreadItem): void {
    this.timeline.push(item);
    this.lastSeqByFan.set(item.psid, item.seq);
  }

  private fold(call: FakeGraphCallLike): void {
    const method = call.method.toUpperCase();
    const path = call.path.split('?')[0] ?? '';
    const ok = call.status >= 200 && call.status < 300;
    const at = toMs(call.at);

    let m: RegExpMatchArray | null;
    if (method === 'POST' && (m = path.match(SEND_PATH)) && (m[1] === this.pageId || m[1] === 'me')) {
      const recipient = field(call.body, 'recipient');
      if (!isRecord(recipient)) return;
      let psid: string | undefined;
      let viaCommentId: string | undefined;
      if (typeof recipient.id === 'string' || typeof recipient.id === 'number') psid = String(recipient.id);
      else if (typeof recipient.comment_id === 'string') {
        viaCommentId = recipient.comment_id;
        const c = this.comments.get(viaCommentId);
        psid = c?.psid;
        if (c && ok) c.privateReply = true;
      }
      if (psid === undefined || !this.fans.has(psid)) return;
      if (!ok) {
        this.push({
          seq: ++this.seq,
          at,
          psid,
          from: 'system',
          text: `The fake Graph API refused a message to this fan: ${errorMessage(call.response)} [HTTP ${call.status}]`,
        });
        return;
      }
      const item: PageItem = { seq: ++this.seq, at, psid, from: 'page' };
      const message = field(call.body, 'message');
      if (message !== undefined) item.message = message;
      const senderAction = field(call.body, 'sender_action');
      if (typeof senderAction === 'string') item.senderAction = senderAction;
      const messagingType = field(call.body, 'messaging_type');
      if (typeof messagingType === 'string') item.messagingType = messagingType;
      const tag = field(call.body, 'tag');
      if (typeof tag === 'string') item.tag = tag;
      if (viaCommentId !== undefined) item.viaCommentId = viaCommentId;
      this.push(item);
      return;
    }
    if (method === 'POST' && ok && (m = path.match(COMMENTS_PATH))) {
      const message = field(call.body, 'message');
      if (typeof message !== 'string') return;
      const reply: PublicReply = { commentId: m[1]!, message, at };
      if (isRecord(call.response) && typeof call.response.id === 'string') reply.id = call.response.id;
      this.publicReplies.push(reply);
      return;
    }
    if (ok && (m = path.match(PROFILE_PATH))) {
      if (method === 'POST' && isRecord(call.body)) {
        for (const key of ['get_started', 'greeting', 'persistent_menu', 'ice_breakers'] as const) {
          const v = field(call.body, key);
          if (v !== undefined) (this.profile as Record<string, unknown>)[key] = v;
        }
      } else if (method === 'DELETE') {
        const fields = field(call.body, 'fields');
        if (Array.isArray(fields)) {
          for (const f of fields)
            if (typeof f === 'string') delete (this.profile as Record<string, unknown>)[f];
        }
      }
    }
  }
}
