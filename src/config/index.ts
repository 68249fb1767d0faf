import { z } from 'zod';

/**
 * The whole environment contract, parsed once at start. Every variable is named in the error when it is
 * missing or malformed, so a bad deploy fails loudly at boot instead of at the first webhook.
 */

const SIMULATOR_PAGE_ID = '100000000000001';
const DAY_MS = 86_400_000;

const roleSchema = z.enum(['web', 'worker', 'all']);
const localeSchema = z.enum(['it', 'en']);

const envSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  MONGODB_URI: z
    .string()
    .regex(/^mongodb(\+srv)?:\/\//, 'must start with mongodb:// or mongodb+srv://')
    .optional(),
  DATA_DIR: z.string().min(1).default('./data'),
  FACEBOOK_APP_SECRET: z.string().min(8, 'must be the App Secret from the app dashboard').optional(),
  FACEBOOK_VERIFY_TOKEN: z.string().min(1).optional(),
  FACEBOOK_ACCESS_TOKEN: z.string().min(20, 'must be a Page access token').optional(),
  FACEBOOK_PAGE_ID: z.string().regex(/^\d+$/, 'must be the numeric Page id').optional(),
  FACEBOOK_APP_ID: z.string().regex(/^\d+$/, 'must be the numeric App id').optional(),
  GRAPH_API_URL: z.url().default('https://graph.facebook.com'),
  GRAPH_API_VERSION: z
    .string()
    .regex(/^v\d+\.\d+$/, 'must look like v25.0')
    .refine((v) => Number(v.slice(1).split('.')[0]) >= 20, 'is expired; use v24.0 or later')
    .default('v25.0'),
  PUBLIC_URL: z.url().optional(),
  DEFAULT_LOCALE: localeSchema.default('it'),
  ROLE: z
    .string()
    .transform((v) => (v === 'both' ? 'all' : v))
    .pipe(roleSchema)
    .default('all'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  SEND_RATE_PER_SECOND: z.coerce.number().int().min(1).max(300).default(250),
  INBOX_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(50).default(8),
  OUTBOX_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(50).default(10),
  PRIVACY_POLICY_URL: z.url().optional(),
  WEBHOOK_MAX_BODY_BYTES: z.coerce.number().int().min(1024).default(1_000_000),
  INBOX_RETENTION_DAYS: z.coerce.number().int().min(1).max(3650).default(7),
  OUTBOX_RETENTION_DAYS: z.coerce.number().int().min(1).max(3650).default(30),
  DIALOG_STATE_TTL_DAYS: z.coerce.number().int().min(1).max(3650).default(30),
  PAYMENT_URL_TEMPLATE: z
    .string()
    .regex(/^https?:\/\/\S+$/, 'must be an http(s) URL')
    .refine((v) => /\{(token|number)\}/.test(v), 'must contain {token} or {number}')
    .optional(),
  // Lease lengths bound how long a killed process's work waits before another process takes it over.
  // Each minimum keeps a live holder from losing its lease mid-task (see README, Configuration).
  INBOX_LEASE_SECONDS: z.coerce.number().int().min(5).max(3600).default(30),
  OUTBOX_CLAIM_SECONDS: z.coerce.number().int().min(15).max(3600).default(60),
  OUTBOX_ECHO_GRACE_SECONDS: z.coerce.number().int().min(0).max(3600).default(15),
  JOB_LEASE_SECONDS: z.coerce.number().int().min(10).max(86_400).default(600),
  COMMENTS_PUBLIC_REPLY_INTERVAL_S: z.coerce.number().int().min(0).max(86_400).default(30),
});

export type Role = z.infer<typeof roleSchema>;
export type Locale = z.infer<typeof localeSchema>;

export interface PageConfig {
  readonly id: string;
  readonly name: string;
  readonly accessToken: string;
}

export interface Config {
  readonly port: number;
  /** Undefined → the embedded MongoDB-compatible server in `dataDir`. */
  readonly mongodbUri: string | undefined;
  readonly dataDir: string;
  /** True when no Facebook credentials are configured: fake Graph API + simulator. */
  readonly simulator: boolean;
  readonly facebook: {
    readonly appSecret: string;
    readonly verifyToken: string;
    readonly appId: string | undefined;
    readonly page: PageConfig;
  };
  readonly graph: { readonly url: string; readonly version: string };
  readonly publicUrl: string;
  readonly privacyPolicyUrl: string;
  readonly defaultLocale: Locale;
  readonly role: Role;
  readonly logLevel: string;
  readonly sendRatePerSecond: number;
  readonly inboxMaxAttempts: number;
  readonly outboxMaxAttempts: number;
  readonly webhookMaxBodyBytes: number;
  /** How long finished inbox events, finished outbox messages and idle dialog state are kept (TTL). */
  readonly retention: {
    readonly inboxMs: number;
    readonly outboxMs: number;
    readonly dialogStateMs: number;
  };
  /** A merchant checkout URL with {number}/{token}/{amount}/{currency}; unset → the built-in order page. */
  readonly paymentUrlTemplate: string | undefined;
  /**
   * How long work held by one process stays its own: after a crash, this is how long others wait.
   * `outboxEchoGraceMs`: a send left in doubt by a crash waits this long for Meta's echo before a resend.
   */
  readonly leases: {
    readonly inboxMs: number;
    readonly outboxClaimMs: number;
    readonly outboxEchoGraceMs: number;
    readonly jobMs: number;
  };
  /** At most one public reply per post in this interval (every comment still gets its private reply). */
  readonly commentsPublicReplyIntervalMs: number;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Credentials used only in simulator mode: the fake Graph API accepts exactly these. */
export const SIMULATOR_CREDENTIALS = Object.freeze({
  appSecret: 'simulator-app-secret',
  /** The fake Graph API's default app id: its app token is `${appId}|${appSecret}`. */
  appId: '1000000000000001',
  verifyToken: 'simulator-verify-token',
  accessToken: 'SIMULATOR-PAGE-ACCESS-TOKEN-0000000000',
  pageId: SIMULATOR_PAGE_ID,
  pageName: 'Denim Lab (simulator)',
});

const FACEBOOK_VARS = [
  'FACEBOOK_APP_SECRET',
  'FACEBOOK_VERIFY_TOKEN',
  'FACEBOOK_ACCESS_TOKEN',
  'FACEBOOK_PAGE_ID',
] as const;

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // Empty strings are how shells and Procfiles say "unset"; treat them so.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(cleaned);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => `${issue.path.join('.') || '(env)'}: ${issue.message}`),
    );
  }
  const e = parsed.data;

  const present = FACEBOOK_VARS.filter((name) => e[name] !== undefined);
  if (present.length > 0 && present.length < FACEBOOK_VARS.length) {
    const missing = FACEBOOK_VARS.filter((name) => e[name] === undefined);
    throw new ConfigError(
      missing.map(
        (name) => `${name}: is required when ${present.join(', ')} ${present.length > 1 ? 'are' : 'is'} set`,
      ),
    );
  }
  const simulator = present.length === 0;
  const publicUrl = (e.PUBLIC_URL ?? `http://localhost:${e.PORT}`).replace(/\/$/, '');

  return Object.freeze({
    port: e.PORT,
    mongodbUri: e.MONGODB_URI,
    dataDir: e.DATA_DIR,
    simulator,
    facebook: Object.freeze({
      appSecret: e.FACEBOOK_APP_SECRET ?? SIMULATOR_CREDENTIALS.appSecret,
      verifyToken: e.FACEBOOK_VERIFY_TOKEN ?? SIMULATOR_CREDENTIALS.verifyToken,
      appId: e.FACEBOOK_APP_ID,
      page: Object.freeze({
        id: e.FACEBOOK_PAGE_ID ?? SIMULATOR_CREDENTIALS.pageId,
        name: simulator ? SIMULATOR_CREDENTIALS.pageName : (e.FACEBOOK_PAGE_ID ?? ''),
        accessToken: e.FACEBOOK_ACCESS_TOKEN ?? SIMULATOR_CREDENTIALS.accessToken,
      }),
    }),
    // In simulator mode the Graph API is our own fake, mounted on this very server.
    graph: Object.freeze({
      url: simulator ? `http://127.0.0.1:${e.PORT}/fake-graph` : e.GRAPH_API_URL.replace(/\/$/, ''),
      version: e.GRAPH_API_VERSION,
    }),
    publicUrl,
    privacyPolicyUrl: e.PRIVACY_POLICY_URL ?? `${publicUrl}/privacy`,
    defaultLocale: e.DEFAULT_LOCALE,
    role: e.ROLE,
    logLevel: e.LOG_LEVEL,
    sendRatePerSecond: e.SEND_RATE_PER_SECOND,
    inboxMaxAttempts: e.INBOX_MAX_ATTEMPTS,
    outboxMaxAttempts: e.OUTBOX_MAX_ATTEMPTS,
    webhookMaxBodyBytes: e.WEBHOOK_MAX_BODY_BYTES,
    retention: Object.freeze({
      inboxMs: e.INBOX_RETENTION_DAYS * DAY_MS,
      outboxMs: e.OUTBOX_RETENTION_DAYS * DAY_MS,
      dialogStateMs: e.DIALOG_STATE_TTL_DAYS * DAY_MS,
    }),
    paymentUrlTemplate: e.PAYMENT_URL_TEMPLATE,
    leases: Object.freeze({
      inboxMs: e.INBOX_LEASE_SECONDS * 1000,
      outboxClaimMs: e.OUTBOX_CLAIM_SECONDS * 1000,
      outboxEchoGraceMs: e.OUTBOX_ECHO_GRACE_SECONDS * 1000,
      jobMs: e.JOB_LEASE_SECONDS * 1000,
    }),
    commentsPublicReplyIntervalMs: e.COMMENTS_PUBLIC_REPLY_INTERVAL_S * 1000,
  });
}

/**
 * The configuration as seen once the server listens: with `PORT=0` (tests) the URLs derived from the
 * port must name the port actually bound. Explicit `PUBLIC_URL`/`PRIVACY_POLICY_URL` are kept.
 */
export function withListeningPort(config: Config, port: number): Config {
  if (port === config.port) return config;
  const derived = `http://localhost:${config.port}`;
  const publicUrl = config.publicUrl === derived ? `http://localhost:${port}` : config.publicUrl;
  return Object.freeze({
    ...config,
    port,
    publicUrl,
    privacyPolicyUrl:
      config.privacyPolicyUrl === `${derived}/privacy` ? `${publicUrl}/privacy` : config.privacyPolicyUrl,
    graph: Object.freeze({
      ...config.graph,
      url: config.simulator ? `http://127.0.0.1:${port}/fake-graph` : config.graph.url,
    }),
  });
}
