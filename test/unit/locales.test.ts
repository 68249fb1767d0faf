import { expect } from 'chai';
import { loadLocaleResources } from '../../src/i18n/index.js';

type Tree = Record<string, unknown>;

/** Every leaf as `a.b.c` → value (arrays are leaves' containers too: `a.0`). */
function leaves(tree: unknown, prefix = ''): Map<string, unknown> {
  const out = new Map<string, unknown>();
  if (typeof tree === 'object' && tree !== null) {
    for (const [k, v] of Object.entries(tree as Tree)) {
      const path = prefix ? `${prefix}.${k}` : k;
      if (typeof v === 'object' && v !== null) for (const [p, x] of leaves(v, path)) out.set(p, x);
      else out.set(path, v);
    }
  }
  return out;
}

/** `{{name}}`, `{{ name }}`, `{{count, number}}` → name; `$t(key)` nestings are kept as `$t:key`. */
function placeholders(text: string): string[] {
  const names = [...text.matchAll(/\{\{\s*-?\s*([^},\s]+)[^}]*\}\}/g)].map((m) => m[1]!);
  const nested = [...text.matchAll(/\$t\(\s*([^,)\s]+)/g)].map((m) => `$t:${m[1]!}`);
  return [...new Set([...names, ...nested])].sort();
}

describe('locales (it.json / en.json)', () => {
  const { it: itTree, en: enTree } = loadLocaleResources();
  const it_ = leaves(itTree);
  const en = leaves(enTree);

  it('have exactly the same keys, at every depth', () => {
    const onlyIt = [...it_.keys()].filter((k) => !en.has(k));
    const onlyEn = [...en.keys()].filter((k) => !it_.has(k));
    expect({ onlyIt, onlyEn }).to.deep.equal({ onlyIt: [], onlyEn: [] });
    expect(it_.size).to.be.greaterThan(10);
  });

  it('hold only non-empty strings', () => {
    for (const [name, map] of [
      ['it', it_],
      ['en', en],
    ] as const) {
      const bad = [...map]
        .filter(([, v]) => typeof v !== 'string' || v.trim() === '')
        .map(([k]) => `${name}:${k}`);
      expect(bad).to.deep.equal([]);
    }
  });

  it('use the same {{placeholders}} for each key', () => {
    const mismatched = [...it_.keys()]
      .filter((k) => en.has(k))
      .map((k) => ({ key: k, it: placeholders(String(it_.get(k))), en: placeholders(String(en.get(k))) }))
      .filter((m) => JSON.stringify(m.it) !== JSON.stringify(m.en));
    expect(mismatched).to.deep.equal([]);
  });

  it('placeholder extraction understands the forms i18next accepts', () => {
    expect(
      placeholders('Ciao {{name}}, {{ count }} {{price, currency}} $t(menu.shop) {{name}}'),
    ).to.deep.equal(['$t:menu.shop', 'count', 'name', 'price']);
  });
});
