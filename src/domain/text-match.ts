/**
 * Free-text matching that tolerates case, accents, emoji and punctuation, but never matches inside
 * a word (Botkit's `hears('hi')` matches "this"; ours does not).
 */
export function normalizeText(text: string): string {
  return text
    .normalize('NFD')
    .replace(/\p{Diacritic}/gu, '')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();
}

/** True when the whole message is one of the phrases (after normalisation). */
export function isPhrase(text: string, phrases: readonly string[]): boolean {
  const n = normalizeText(text);
  return phrases.some((p) => normalizeText(p) === n);
}

/** True when one of the phrases appears as whole words somewhere in the message. */
export function containsPhrase(text: string, phrases: readonly string[]): boolean {
  const n = ` ${normalizeText(text)} `;
  return phrases.some((p) => {
    const q = normalizeText(p);
    return q.length > 0 && n.includes(` ${q} `);
  });
}

/** Payloads are short, versioned and self-describing: `name:v1:arg1:arg2`. */
export interface ParsedPayload {
  readonly name: string;
  readonly version: number;
  readonly args: readonly string[];
}

export function buildPayload(name: string, args: readonly string[] = [], version = 1): string {
  return [name, `v${version}`, ...args].join(':');
}

export function parsePayload(payload: string): ParsedPayload | undefined {
  const [name, version, ...args] = payload.split(':');
  if (!name || !version || !/^v\d+$/.test(version)) return undefined;
  return { name, version: Number(version.slice(1)), args };
}
