import { pino, type Logger } from 'pino';

export type { Logger };

/** One structured logger per process; modules take child loggers so every line carries its origin. */
export function createLogger(level = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({
    level,
    base: { pid: process.pid },
    // Fan names, comments and tokens must never reach the log in clear.
    redact: { paths: ['*.access_token', '*.accessToken', '*.password', 'req.headers.cookie'], remove: true },
  });
}

/** A logger that discards everything (tests, benchmarks). */
export const silentLogger: Logger = pino({ level: 'silent' });
