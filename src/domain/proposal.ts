/**
 * Fans as co-designers, the pure rules: a proposal's lifecycle, what a valid proposal is, when an
 * option has won (threshold reached, or leading at the deadline), the deterministic tie-break, the
 * standings a voter sees and the campaign a decision opens. No I/O and no clock of its own.
 *
 *   draft → voting → decided (→ a group-buy campaign opens from the winner)
 *                  → expired (deadline passed with no vote)
 */

export const PROPOSAL_STATES = ['draft', 'voting', 'decided', 'expired'] as const;
export type ProposalState = (typeof PROPOSAL_STATES)[number];

export const PROPOSAL_KINDS = ['idea', 'choice'] as const;
export type ProposalKind = (typeof PROPOSAL_KINDS)[number];

export const ON_DECISION = ['draft_campaign', 'open_campaign'] as const;
export type OnDecision = (typeof ON_DECISION)[number];

export type ProposalEvent = 'publish' | 'decide' | 'expire';

export const PROPOSAL_TRANSITIONS: Readonly<
  Record<ProposalEvent, { readonly from: readonly ProposalState[]; readonly to: ProposalState }>
> = {
  publish: { from: ['draft'], to: 'voting' },
  decide: { from: ['voting'], to: 'decided' },
  expire: { from: ['voting'], to: 'expired' },
};

export function canApply(from: ProposalState, event: ProposalEvent): boolean {
  return PROPOSAL_TRANSITIONS[event].from.includes(from);
}

/** Generic templates hold at most 10 cards: one per option. */
export const MAX_OPTIONS = 10;
export const OPTION_ID = /^[a-z0-9_-]{1,20}$/;
export const PROPOSAL_CODE = /^[A-Za-z0-9_-]{2,30}$/;

export interface OptionTally {
  readonly id: string;
  readonly tally: number;
}

export interface ProposalRulesInput {
  readonly code: string;
  readonly kind: ProposalKind;
  readonly options: readonly { readonly id: string; readonly productSku?: string | null }[];
  readonly threshold: number;
  readonly deadline: Date;
  readonly onDecision: OnDecision;
}

export type ProposalProblem =
  | 'code_invalid'
  | 'too_few_options'
  | 'too_many_options'
  | 'option_id_invalid'
  | 'option_id_duplicate'
  | 'threshold_invalid'
  | 'deadline_in_past'
  | 'option_without_product';

export type ProposalValidation =
  { readonly ok: true } | { readonly ok: false; readonly code: ProposalProblem; readonly index?: number };

/**
 * A proposal can be published when: its code is a short word, an `idea` has ≥ 1 option and a
 * `choice` ≥ 2 (≤ 10: one card each), option ids are unique slugs, the threshold is a positive
 * integer, the deadline is ahead and (when the decision opens a campaign) every option names a product.
 */
export function validateProposal(p: ProposalRulesInput, now: Date): ProposalValidation {
  if (!PROPOSAL_CODE.test(p.code)) return { ok: false, code: 'code_invalid' };
  const min = p.kind === 'choice' ? 2 : 1;
  if (p.options.length < min) return { ok: false, code: 'too_few_options' };
  if (p.options.length > MAX_OPTIONS) return { ok: false, code: 'too_many_options' };
  const seen = new Set<string>();
  for (let i = 0; i < p.options.length; i++) {
    const o = p.options[i]!;
    if (!OPTION_ID.test(o.id)) return { ok: false, code: 'option_id_invalid', index: i };
    if (seen.has(o.id)) return { ok: false, code: 'option_id_duplicate', index: i };
    seen.add(o.id);
  }
  if (!Number.isSafeInteger(p.threshold) || p.threshold < 1) return { ok: false, code: 'threshold_invalid' };
  if (p.deadline.getTime() <= now.getTime()) return { ok: false, code: 'deadline_in_past' };
  if (p.onDecision === 'open_campaign') {
    const i = p.options.findIndex((o) => !o.productSku);
    if (i >= 0) return { ok: false, code: 'option_without_product', index: i };
  }
  return { ok: true };
}

/** Votes are taken while voting and before the deadline. */
export function acceptsVotes(state: ProposalState, deadline: Date, now: Date): boolean {
  return state === 'voting' && now.getTime() < deadline.getTime();
}

export function reachedThreshold(tally: number, threshold: number): boolean {
  return tally >= threshold;
}

/**
 * Standings, best first. Ties are broken deterministically by the options' order in the proposal
 * (the manager's order: the first listed comes first), never by chance or by storage order.
 */
export function standings<T extends OptionTally>(options: readonly T[]): T[] {
  return options
    .map((o, i) => ({ o, i }))
    .sort((a, b) => b.o.tally - a.o.tally || a.i - b.i)
    .map((x) => x.o);
}

/** The leader (same tie-break as {@link standings}); undefined when nobody voted. */
export function leader(options: readonly OptionTally[]): OptionTally | undefined {
  const first = standings(options)[0];
  return first && first.tally > 0 ? first : undefined;
}

export type Decision =
  | { readonly decide: false }
  | {
      readonly decide: true;
      readonly outcome: 'decided';
      readonly winnerOptionId: string;
      readonly by: 'threshold' | 'deadline' | 'manager';
    }
  | { readonly decide: true; readonly outcome: 'expired'; readonly by: 'deadline' | 'manager' };

/**
 * What should happen to a voting proposal now: an option at the threshold wins at once (if several,
 * the best placed); at the deadline (or when a manager closes it) the leader wins, and with no vote at
 * all the proposal expires.
 */
export function decide(
  p: {
    readonly state: ProposalState;
    readonly threshold: number;
    readonly deadline: Date;
    readonly options: readonly OptionTally[];
  },
  now: Date,
  opts: { readonly closing?: boolean } = {},
): Decision {
  if (p.state !== 'voting') return { decide: false };
  const ranked = standings(p.options);
  const atThreshold = ranked.find((o) => reachedThreshold(o.tally, p.threshold));
  if (atThreshold)
    return { decide: true, outcome: 'decided', winnerOptionId: atThreshold.id, by: 'threshold' };
  const closing = opts.closing === true;
  if (!closing && now.getTime() < p.deadline.getTime()) return { decide: false };
  const by = closing ? 'manager' : 'deadline';
  const top = leader(ranked);
  return top
    ? { decide: true, outcome: 'decided', winnerOptionId: top.id, by }
    : { decide: true, outcome: 'expired', by };
}

export interface StandingLine {
  readonly id: string;
  readonly tally: number;
  /** Whole percent of all votes (0 with no votes); rounded down, never over 100 in total. */
  readonly percent: number;
}

export function standingLines(options: readonly OptionTally[]): StandingLine[] {
  const total = options.reduce((s, o) => s + Math.max(0, o.tally), 0);
  return standings(options).map((o) => ({
    id: o.id,
    tally: o.tally,
    percent: total > 0 ? Math.floor((Math.max(0, o.tally) * 100) / total) : 0,
  }));
}

/**
 * The slug of the campaign a decision opens: derived from the proposal only (code + winning option),
 * so a retried or doubled decision finds the same campaign instead of creating a second one.
 */
export function campaignSlugFor(code: string, optionId: string): string {
  const raw = `${code}-${optionId}`.replace(/[^A-Za-z0-9_-]/g, '-');
  return raw.length <= 40 ? raw : raw.slice(0, 40);
}

export const HOUR_MS = 60 * 60 * 1000;

/** The campaign's deadline: `offsetHours` after the decision. */
export function campaignDeadline(decidedAt: Date, offsetHours: number): Date {
  return new Date(decidedAt.getTime() + offsetHours * HOUR_MS);
}

/** Finds the option a comment names ("blu!", "Voto il nero"): the one whose name appears as whole words. */
export function optionNamedIn(
  normalizedComment: string,
  options: readonly { readonly id: string; readonly names: readonly string[] }[],
): string | undefined {
  const text = ` ${normalizedComment} `;
  const hits = options.filter((o) => o.names.some((n) => n.length > 0 && text.includes(` ${n} `)));
  // Naming two options is no vote: we never guess.
  return hits.length === 1 ? hits[0]!.id : undefined;
}
