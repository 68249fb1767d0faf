/**
 * Shared pieces of the fuzz suites: run counts and seed from the environment, a recorder for
 * process-level failures, and arbitraries for hostile values.
 *
 * `FUZZ_RUNS=N` multiplies nothing: it is the number of runs for every property (CI keeps the
 * defaults modest). `FUZZ_SEED=S` replays a run; fast-check prints the seed and path of a failure.
 */
import fc from 'fast-check';

/**
 * One seed per process (FUZZ_SEED, else random): every property of a run uses it, so a failure found
 * after the properties (an event parked later) can be replayed too.
 */
export const fuzzSeed: number =
  process.env.FUZZ_SEED !== undefined && process.env.FUZZ_SEED !== ''
    ? Number(process.env.FUZZ_SEED)
    : Math.floor(Math.random() * 2 ** 31);

/** Options for `fc.assert`: `defaultRuns` unless FUZZ_RUNS says otherwise, and the process's seed. */
export function fuzzParams<T>(defaultRuns: number): fc.Parameters<T> {
  const runs = Number(process.env.FUZZ_RUNS);
  return {
    numRuns: Number.isInteger(runs) && runs > 0 ? runs : defaultRuns,
    seed: fuzzSeed,
    // A failing run on a live app is slow to replay: shrink a little, not for minutes.
    endOnFailure: false,
    interruptAfterTimeLimit: 10 * 60_000,
  };
}

/** The number of runs a suite will use, for test titles and timeouts. */
export function fuzzRuns(defaultRuns: number): number {
  return fuzzParams(defaultRuns).numRuns!;
}

/**
 * Records what would otherwise only be printed or crash mocha later: every unhandled rejection and
 * uncaught exception while installed. Mocha has its own uncaughtException handler; ours runs beside it
 * so a failure is attributed to the fuzz suite that caused it.
 */
export class ProcessFailureRecorder {
  readonly failures: string[] = [];
  private readonly onRejection = (reason: unknown) => {
    this.failures.push(`unhandledRejection: ${describe(reason)}`);
  };
  private readonly onException = (error: unknown) => {
    this.failures.push(`uncaughtException: ${describe(error)}`);
  };

  install(): this {
    process.on('unhandledRejection', this.onRejection);
    process.on('uncaughtException', this.onException);
    return this;
  }

  uninstall(): void {
    process.off('unhandledRejection', this.onRejection);
    process.off('uncaughtException', this.onException);
  }
}

function describe(value: unknown): string {
  return value instanceof Error ? (value.stack ?? `${value.name}: ${value.message}`) : String(value);
}

// ---------------------------------------------------------------------------------------------
// Hostile values
// ---------------------------------------------------------------------------------------------

/** Texts that have broken real systems: markup, query syntax, control and bidi characters. */
export const NASTY_STRINGS = [
  '<script>alert(1)</script>',
  '"><img src=x onerror=alert(1)>',
  "'><svg/onload=alert(1)>",
  '</script><script>alert(1)</script>',
  'javascript:alert(1)',
  '{"$ne":null}',
  '{"$gt":""}',
  '$where',
  '$gt',
  '$ne',
  'a.b.c',
  '$.x',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  '\u0000',
  '\u0000\u0001\u001f',
  '\u202eevil\u202c',
  '\ud800',
  '\udfff\ud800',
  '𝕳𝖊𝖑𝖑𝖔 👖🏳️‍🌈',
  'ﷺ'.repeat(50),
  '\r\n\r\nHTTP/1.1 200 OK',
  '%00%0d%0a',
  '../../../etc/passwd',
  '${7*7}{{7*7}}',
  'NaN',
  'Infinity',
  '-0',
  '1e309',
  '9007199254740993',
  ' ',
  '',
];

export const OPERATOR_OBJECTS: readonly unknown[] = [
  { $gt: '' },
  { $ne: null },
  { $where: 'sleep(1000) || true' },
  { $regex: '.*' },
  { $in: ['a', 'b'] },
  { $exists: true },
  { $expr: { $eq: [1, 1] } },
];

/** JSON.parse (unlike an object literal) makes `__proto__` an own key, as a hostile sender's JSON would. */
export const POLLUTION_OBJECTS: readonly unknown[] = [
  JSON.parse('{"__proto__":{"polluted":"yes","isAdmin":true}}'),
  JSON.parse('{"constructor":{"prototype":{"polluted":"yes"}}}'),
  JSON.parse('{"__proto__":null}'),
  { toString: 'not a function', valueOf: 'nor this' },
];

export const POLLUTION_KEYS = ['__proto__', 'constructor', 'prototype', '$where', '$gt', 'a.b', '$ne'];

export function hostileString(maxHuge = 50_000): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...NASTY_STRINGS) },
    { weight: 3, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }) },
    { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          fc.integer({ min: Math.min(1000, maxHuge), max: maxHuge }),
          fc.constantFrom('x', 'è', '👖', '<', '$'),
        )
        .map(([n, c]) => c.repeat(Math.ceil(n / c.length))),
    },
  );
}

/** Deeply nested arrays/objects (parsers and recursive code). */
export const deepNesting: fc.Arbitrary<unknown> = fc
  .tuple(fc.integer({ min: 50, max: 1000 }), fc.boolean())
  .map(([depth, arrays]) => {
    let v: unknown = 'bottom';
    for (let i = 0; i < depth; i++) v = arrays ? [v] : { a: v };
    return v;
  });

/** Anything a JSON sender may put where we expect a string, number or object. */
export function hostileValue(maxHuge = 50_000): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 4, arbitrary: hostileString(maxHuge) },
    { weight: 2, arbitrary: fc.constantFrom(...OPERATOR_OBJECTS) },
    { weight: 1, arbitrary: fc.constantFrom(...POLLUTION_OBJECTS) },
    {
      weight: 2,
      arbitrary: fc.oneof(
        fc.integer(),
        fc.double({ noNaN: true }),
        fc.constantFrom(0, -1, 1e308, -1e308, 2 ** 53 + 1, 8.64e15 + 1, Number.MAX_SAFE_INTEGER),
      ),
    },
    { weight: 1, arbitrary: fc.constantFrom(null, true, false, [], {}) },
    { weight: 1, arbitrary: fc.array(hostileString(100), { maxLength: 4 }) },
    { weight: 1, arbitrary: deepNesting },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  );
}

// ---------------------------------------------------------------------------------------------
// Mutation of real-format JSON
// ---------------------------------------------------------------------------------------------

export type Mutation =
  | { op: 'delete'; at: number }
  | { op: 'replace'; at: number; value: unknown }
  | { op: 'addKey'; at: number; key: string; value: unknown };

export function mutation(maxHuge = 50_000): fc.Arbitrary<Mutation> {
  const at = fc.nat();
  return fc.oneof(
    fc.record({ op: fc.constant('delete' as const), at }),
    fc.record({ op: fc.constant('replace' as const), at, value: hostileValue(maxHuge) }),
    fc.record({
      op: fc.constant('addKey' as const),
      at,
      key: fc.oneof(fc.constantFrom(...POLLUTION_KEYS), fc.string({ maxLength: 8 })),
      value: hostileValue(maxHuge),
    }),
  );
}

type Slot = { parent: Record<string, unknown> | unknown[]; key: string | number };

function slots(root: unknown): Slot[] {
  const out: Slot[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node))
      node.forEach((child, i) => {
        out.push({ parent: node, key: i });
        walk(child);
      });
    else if (typeof node === 'object' && node !== null)
      for (const key of Object.keys(node)) {
        out.push({ parent: node as Record<string, unknown>, key });
        walk((node as Record<string, unknown>)[key]);
      }
  };
  walk(root);
  return out;
}

function objects(root: unknown): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(walk);
    else if (typeof node === 'object' && node !== null) {
      out.push(node as Record<string, unknown>);
      Object.values(node).forEach(walk);
    }
  };
  walk(root);
  return out;
}

/**
 * Applies mutations to a deep copy of `value` (a JSON tree). Keys are set with defineProperty so a
 * `__proto__` key is an own key and survives JSON.stringify, as it would in an attacker's bytes.
 */
export function applyMutations<T>(value: T, mutations: readonly Mutation[]): unknown {
  const copy = (v: unknown): unknown => (v === undefined ? v : JSON.parse(JSON.stringify(v)));
  const root = { root: copy(value) };
  // Generated values may be shared constants: each insertion gets its own copy, or a later
  // mutation could make the tree cyclic.
  for (const m0 of mutations) {
    const m = 'value' in m0 ? { ...m0, value: copy(m0.value) } : m0;
    if (m.op === 'addKey') {
      const targets = objects(root.root);
      const target = targets[m.at % Math.max(1, targets.length)];
      if (target)
        Object.defineProperty(target, m.key, {
          value: m.value,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      continue;
    }
    const all = slots(root);
    const slot = all[m.at % all.length];
    if (!slot) continue;
    if (m.op === 'delete') {
      if (Array.isArray(slot.parent)) slot.parent.splice(slot.key as number, 1);
      else if (slot.parent !== root) delete slot.parent[slot.key as string];
    } else if (Array.isArray(slot.parent)) slot.parent[slot.key as number] = m.value;
    else
      Object.defineProperty(slot.parent, slot.key, {
        value: m.value,
        enumerable: true,
        writable: true,
        configurable: true,
      });
  }
  return root.root;
}
