/**
 * What a comment under a Page post asks for: to join (with an optional quantity and variant), a
 * price/info question, or to stop. Pure: no I/O, no clock. Tolerant of case, accents, emoji,
 * punctuation and extra words; never matches inside a word ("info" is not in "informatica"), and a
 * negated join ("non voglio", "I'm not in") is not a join.
 *
 * Keywords come in two languages (it, en). Both are always tried (fans mix them); a campaign or post
 * may add its own words per language on top of the defaults below.
 */

export type CommentLocale = 'it' | 'en';

export type CommentIntent =
  | { readonly type: 'join'; readonly quantity?: number; readonly variant?: string }
  | { readonly type: 'info' }
  | { readonly type: 'stop' }
  | { readonly type: 'none' };

export type CommentIntentType = CommentIntent['type'];

export interface IntentKeywords {
  readonly join: readonly string[];
  readonly info: readonly string[];
  readonly stop: readonly string[];
}

export type KeywordsByLocale = Readonly<Record<CommentLocale, IntentKeywords>>;

/** Extra keywords per language (a campaign's or a post's); they are added to the defaults. */
export type KeywordOverrides = Partial<Record<CommentLocale, Partial<IntentKeywords>>>;

export const DEFAULT_KEYWORDS: KeywordsByLocale = {
  it: {
    join: [
      'voglio',
      'lo voglio',
      'la voglio',
      'li voglio',
      'le voglio',
      'ne voglio',
      'vorrei',
      'ne vorrei',
      'prenderei',
      'ne prenderei',
      'lo vorrei',
      'la vorrei',
      'ci sto',
      'io',
      'anche io',
      'anch io',
      'pure io',
      'io ci sto',
      'ci sono',
      'io ci sono',
      'partecipo',
      'aderisco',
      'mi unisco',
      'mi aggiungo',
      'aggiungimi',
      'aggiungetemi',
      'prenoto',
      'prenotato',
      'prenotata',
      'prendo',
      'lo prendo',
      'la prendo',
      'ne prendo',
      'preso',
      'presa',
      'presente',
      'dentro',
      'io dentro',
      'mio',
      'mia',
      'interessato',
      'interessata',
      'interessati',
      'mi interessa',
      'partecipare',
    ],
    info: [
      'quanto costa',
      'quanto costano',
      'quanto viene',
      'quanto vengono',
      'quanto',
      'prezzo',
      'prezzi',
      'costo',
      'costa',
      'info',
      'informazioni',
      'dettagli',
      'che taglie',
      'quali taglie',
      'taglie disponibili',
      'disponibile',
      'disponibili',
      'scadenza',
      'come funziona',
      'in privato',
    ],
    stop: [
      'stop',
      'non piu',
      'non lo voglio piu',
      'non la voglio piu',
      'non voglio piu',
      'non mi interessa piu',
      'ci ho ripensato',
      'annulla',
      'cancellami',
      'toglimi',
    ],
  },
  en: {
    join: [
      'join',
      'joining',
      'count me in',
      'i m in',
      'im in',
      'i am in',
      'in',
      'me',
      'me too',
      'me please',
      'i want',
      'i want one',
      'i want it',
      'i want two',
      'want',
      'i d like',
      'i would like',
      'i ll take',
      'i will take',
      'i ll take it',
      'take my money',
      'sign me up',
      'interested',
      'i m interested',
      'yes please',
      'mine',
      'add me',
    ],
    info: [
      'how much',
      'how much is it',
      'price',
      'prices',
      'pricing',
      'cost',
      'costs',
      'info',
      'information',
      'details',
      'what sizes',
      'which sizes',
      'sizes available',
      'available',
      'deadline',
      'how does it work',
      'dm',
      'pm',
      'pm me',
      'dm me',
    ],
    stop: [
      'stop',
      'no longer',
      'not anymore',
      'cancel',
      'count me out',
      'i m out',
      'im out',
      'changed my mind',
      'unsubscribe',
      'remove me',
    ],
  },
};

/** Words that negate a join phrase right before it ("non voglio", "not in", "don't want"). */
const NEGATORS = new Set([
  'non',
  'not',
  'no',
  'dont',
  'don',
  'never',
  'mai',
  'nemmeno',
  'neanche',
  'neppure',
  'nope',
]);
/** Words that negate a join phrase right after it ("io no", "me neither"). */
const NEGATORS_AFTER = new Set(['no', 'neither', 'nemmeno', 'neanche', 'not']);

const NUMBER_WORDS: Readonly<Record<string, number>> = {
  uno: 1,
  una: 1,
  un: 1,
  due: 2,
  tre: 3,
  quattro: 4,
  cinque: 5,
  sette: 7,
  otto: 8,
  nove: 9,
  dieci: 10,
  one: 1,
  two: 2,
  three: 3,
  four: 4,
  five: 5,
  six: 6,
  seven: 7,
  eight: 8,
  nine: 9,
  ten: 10,
  paio: 2,
  pair: 2,
  couple: 2,
};

/**
 * One-word join keywords that are too common to count in a longer comment ("io", "me", "in"): they
 * mean "me!" only when the comment is at most this many words.
 */
const WEAK_JOIN = new Set([
  'io',
  'me',
  'in',
  'mio',
  'mia',
  'mine',
  'want',
  'dentro',
  'presente',
  'preso',
  'presa',
]);
const WEAK_MAX_TOKENS = 3;
/** One-word join keywords that count only as the whole comment ("in" is a preposition in Italian). */
const WHOLE_ONLY_JOIN = new Set(['in']);

/** Letter sizes understood on their own (uppercase in the comment) or after "taglia"/"size". */
const LETTER_SIZES = ['XXS', 'XS', 'S', 'M', 'L', 'XL', 'XXL', 'XXXL', '2XL', '3XL'];
const SIZE_WORDS = ['taglia', 'tg', 'size', 'misura', 'sz', 'numero'];
const MAX_QUANTITY = 99;

/** Emoji that say "me!" under a post (raised hand, hand up, pointing up). */
const JOIN_EMOJI = /[\u{1F64B}\u{270B}\u{261D}\u{1F590}\u{1F646}]/u;

/** Same normalisation as text-match: no accents, lower case, only letters and digits, one space. */
export function normalizeComment(text: string): string {
  return text
    .normalize('NFD')
    .replace(/\p{Diacritic}/gu, '')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();
}

/** Hashtags and post codes (`#DL-GB1`, `#jeans25`) as written, without the `#`, upper-cased. */
export function findHashtags(text: string): string[] {
  return [...text.matchAll(/#([\p{L}\p{N}_-]{2,40})/gu)].map((m) => m[1]!.toUpperCase());
}

/**
 * Codes a post's text may carry to link it to a campaign: every hashtag, plus any word that equals
 * one of `knownCodes` (a campaign slug written without `#`). Case-insensitive; returned upper-cased.
 */
export function findLinkCodes(text: string, knownCodes: readonly string[] = []): string[] {
  const found = new Set(findHashtags(text));
  if (knownCodes.length > 0) {
    const words = new Set(text.toUpperCase().split(/[^\p{L}\p{N}_-]+/u));
    for (const code of knownCodes) if (words.has(code.toUpperCase())) found.add(code.toUpperCase());
  }
  return [...found];
}

function tokensOf(phrase: string): string[] {
  const n = normalizeComment(phrase);
  return n.length > 0 ? n.split(' ') : [];
}

interface PhraseHit {
  readonly start: number;
  readonly end: number;
}

function findPhrase(tokens: readonly string[], phrase: readonly string[]): PhraseHit[] {
  const hits: PhraseHit[] = [];
  if (phrase.length === 0) return hits;
  outer: for (let i = 0; i + phrase.length <= tokens.length; i++) {
    for (let j = 0; j < phrase.length; j++) if (tokens[i + j] !== phrase[j]) continue outer;
    hits.push({ start: i, end: i + phrase.length });
  }
  return hits;
}

function isNegated(tokens: readonly string[], hit: PhraseHit): boolean {
  for (let k = Math.max(0, hit.start - 2); k < hit.start; k++) if (NEGATORS.has(tokens[k]!)) return true;
  const after = tokens[hit.end];
  return after !== undefined && NEGATORS_AFTER.has(after);
}

/** Tokens of the comment with hashtags/codes removed (a `#GB2` is not a quantity of 2). */
function commentTokens(text: string): string[] {
  const withoutTags = text.replace(/#[\p{L}\p{N}_-]+/gu, ' ');
  return tokensOf(withoutTags);
}

function mergedKeywords(overrides: KeywordOverrides | undefined): IntentKeywords {
  const join: string[] = [];
  const info: string[] = [];
  const stop: string[] = [];
  for (const locale of ['it', 'en'] as const) {
    const base = DEFAULT_KEYWORDS[locale];
    const extra = overrides?.[locale];
    join.push(...base.join, ...(extra?.join ?? []));
    info.push(...base.info, ...(extra?.info ?? []));
    stop.push(...base.stop, ...(extra?.stop ?? []));
  }
  return { join, info, stop };
}

function hasAny(
  tokens: readonly string[],
  phrases: readonly string[],
  opts: { readonly negatable?: boolean; readonly weak?: ReadonlySet<string> } = {},
): { readonly any: boolean; readonly strong: boolean; readonly negated: boolean } {
  let any = false;
  let strong = false;
  let negated = false;
  const negatable = opts.negatable ?? false;
  for (const p of phrases) {
    const phrase = tokensOf(p);
    if (phrase.length === 1 && opts.weak?.has(phrase[0]!) && tokens.length > WEAK_MAX_TOKENS) continue;
    if (phrase.length === 1 && opts.weak && WHOLE_ONLY_JOIN.has(phrase[0]!) && tokens.length > 1) continue;
    for (const hit of findPhrase(tokens, phrase)) {
      if (negatable && isNegated(tokens, hit)) negated = true;
      else {
        any = true;
        if (!(phrase.length === 1 && opts.weak?.has(phrase[0]!))) strong = true;
      }
    }
  }
  return { any, strong, negated };
}

/** The size asked for: "taglia M", "size xl", "tg. 42", or a letter size written in capitals. */
export function findVariant(text: string, variants: readonly string[] = []): string | undefined {
  const cleaned = text.replace(/#[\p{L}\p{N}_-]+/gu, ' ');
  const tokens = tokensOf(cleaned);
  // 1. After a size word: any size label, letters or numbers.
  for (let i = 0; i < tokens.length - 1; i++) {
    if (!SIZE_WORDS.includes(tokens[i]!)) continue;
    const next = tokens[i + 1]!;
    if (LETTER_SIZES.includes(next.toUpperCase()) || /^\d{2,3}$/.test(next)) return next.toUpperCase();
    const known = variants.find((v) => normalizeComment(v) === next);
    if (known) return known;
  }
  // 2. A variant label the product has, written as its own word(s), multi-letter only ("XL", "42").
  for (const v of variants) {
    const label = tokensOf(v);
    if (label.length === 0 || (label.length === 1 && label[0]!.length < 2)) continue;
    if (/^\d{1,2}$/.test(label.join(''))) continue; // a bare small number is a quantity
    if (findPhrase(tokens, label).length > 0) return v;
  }
  // 3. A capital letter size standing alone: "JOIN 2 M", "io M!" — but not the m of "I'M".
  const m = cleaned.match(/(?<![\p{L}\p{N}'’])(XXXL|XXL|XL|XS|XXS|[23]XL|S|M|L)(?![\p{L}\p{N}'’])/u);
  return m ? m[1] : undefined;
}

/** How many: "2", "x2", "2x", "2 pezzi", "due", "un paio"; 1–99 only; a size number is not one. */
export function findQuantity(text: string): number | undefined {
  const tokens = commentTokens(text);
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i]!;
    const prev = i > 0 ? tokens[i - 1]! : '';
    if (SIZE_WORDS.includes(prev)) continue;
    const digits = tok.match(/^(?:x(\d{1,2})|(\d{1,2})x|(\d{1,2})(?:pz|pezzi|pcs)?)$/);
    if (digits) {
      const n = Number(digits[1] ?? digits[2] ?? digits[3]);
      if (n >= 1 && n <= MAX_QUANTITY) return n;
      continue;
    }
    const word = NUMBER_WORDS[tok];
    // "un"/"una"/"uno" are articles more often than numbers: only with a unit after ("una coppia").
    if (word !== undefined && !['un', 'una', 'uno', 'one'].includes(tok)) return word;
  }
  return undefined;
}

/**
 * Reads the intent of a comment. Order of precedence: stop, then join (a join that also asks the
 * price is a join), then info. A negated join with nothing else is `none`.
 */
export function detectIntent(
  text: string,
  opts: { readonly keywords?: KeywordOverrides; readonly variants?: readonly string[] } = {},
): CommentIntent {
  const tokens = commentTokens(text);
  const keywords = mergedKeywords(opts.keywords);
  if (tokens.length === 0) return JOIN_EMOJI.test(text) ? { type: 'join' } : { type: 'none' };
  if (hasAny(tokens, keywords.stop).any) return { type: 'stop' };
  const join = hasAny(tokens, keywords.join, { negatable: true, weak: WEAK_JOIN });
  // "JOIN 2 M" / "2 M" / "x2": a quantity with a size and nothing else also means join.
  const bareOrder =
    tokens.length <= 3 && findQuantity(text) !== undefined && findVariant(text, opts.variants) !== undefined;
  const info = hasAny(tokens, keywords.info).any;
  // A weak word ("me", "io") beside a question ("dm me", "info per me") is the question.
  const joins = join.strong || (join.any && !info);
  if (joins || (!join.negated && (JOIN_EMOJI.test(text) || bareOrder))) {
    const quantity = findQuantity(text);
    const variant = findVariant(text, opts.variants);
    return {
      type: 'join',
      ...(quantity !== undefined ? { quantity } : {}),
      ...(variant !== undefined ? { variant } : {}),
    };
  }
  return info ? { type: 'info' } : { type: 'none' };
}

const IT_WORDS = new Set([
  'il',
  'lo',
  'la',
  'le',
  'gli',
  'di',
  'che',
  'non',
  'per',
  'con',
  'sono',
  'voglio',
  'anche',
  'io',
  'quanto',
  'costa',
  'ciao',
  'grazie',
  'bello',
  'bella',
  'taglia',
  'ne',
  'ci',
  'sto',
  'mi',
  'come',
  'prezzo',
  'perche',
  'questo',
  'questa',
  'vorrei',
  'prendo',
  'piu',
  'tutti',
  'anch',
  'ma',
]);
const EN_WORDS = new Set([
  'the',
  'an',
  'is',
  'it',
  'of',
  'and',
  'to',
  'me',
  'my',
  'i',
  'count',
  'how',
  'much',
  'want',
  'this',
  'that',
  'price',
  'size',
  'please',
  'thanks',
  'love',
  'too',
  'what',
  'im',
  'join',
  'for',
  'you',
  'do',
  'does',
  'take',
  'will',
  'would',
  'like',
  'yes',
  'cool',
  'nice',
]);

/** Which of it/en the text looks like (a word count); undefined when it cannot tell. */
export function detectLocale(text: string): CommentLocale | undefined {
  let it = 0;
  let en = 0;
  for (const tok of commentTokens(text)) {
    if (IT_WORDS.has(tok)) it++;
    if (EN_WORDS.has(tok)) en++;
  }
  if (it === en) return undefined;
  return it > en ? 'it' : 'en';
}

/** A stable small number from a text (the comment id): picks a wording deterministically. */
export function pickIndex(seed: string, size: number): number {
  if (size <= 1) return 0;
  let h = 2166136261;
  for (let i = 0; i < seed.length; i++) {
    h ^= seed.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return (h >>> 0) % size;
}
