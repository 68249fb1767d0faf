/**
 * Echo delivery, as Meta does it for apps subscribed to `message_echoes`: after accepting a send, a
 * signed webhook carrying the message (with its `metadata`) goes to the app's callback URL. A callback
 * that does not answer 200 is retried with backoff (Meta retries for hours; here for ~2 minutes), and
 * each attempt reads the current URL, so a bot restarted on a new port still gets echoes owed to it.
 *
 * The outbox relies on this: a send whose result was lost in a crash is proven by its echo
 * (`metadata: "ob:<outbox id>"`, confirmEcho in src/messenger/event-handler.ts).
 */
import { messagingBody, postSignedWebhook, type MessagingEvent } from '../webhook-payloads.js';

export interface EchoWebhook {
  /** The bot's webhook (`.../api/messages`). */
  url: string;
  appSecret: string;
  appId: string;
}

const RETRY_DELAYS_MS = [250, 500, 1000, 2000, 4000, 8000, 15_000, 30_000, 60_000];

export class EchoDelivery {
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(private target: EchoWebhook | undefined) {}

  set(target: EchoWebhook | undefined): void {
    this.target = target;
  }

  get enabled(): boolean {
    return this.target !== undefined;
  }

  /** Queues the echo of an accepted send (fire and forget; never delays the Send API answer). */
  echo(o: {
    pageId: string;
    psid: string;
    mid: string;
    metadata: string;
    message: Record<string, unknown>;
    at: Date;
  }): void {
    if (!this.target) return;
    const event: MessagingEvent = {
      sender: { id: o.pageId },
      recipient: { id: o.psid },
      timestamp: o.at.getTime(),
      message: {
        ...(typeof o.message.text === 'string' ? { text: o.message.text } : {}),
        mid: o.mid,
        is_echo: true,
        app_id: Number(this.target.appId),
        metadata: o.metadata,
      },
    };
    this.attempt(messagingBody(o.pageId, event), 0);
  }

  private attempt(body: ReturnType<typeof messagingBody>, n: number): void {
    const target = this.target;
    if (!target) return;
    postSignedWebhook(target.url, body, target.appSecret).then(
      (res) => {
        if (res.status !== 200) this.retry(body, n);
      },
      () => this.retry(body, n),
    );
  }

  private retry(body: ReturnType<typeof messagingBody>, n: number): void {
    const delay = RETRY_DELAYS_MS[n];
    if (delay === undefined) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.attempt(body, n + 1);
    }, delay);
    timer.unref();
    this.timers.add(timer);
  }

  clear(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}
