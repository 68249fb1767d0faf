import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import i18next, { type i18n, type TFunction } from 'i18next';
import type { Locale } from '../config/index.js';

export const LOCALES: readonly Locale[] = ['it', 'en'];

const localesDir = fileURLToPath(new URL('../../locales/', import.meta.url));

export function loadLocaleResources(): Record<Locale, Record<string, unknown>> {
  return {
    it: JSON.parse(readFileSync(`${localesDir}it.json`, 'utf8')) as Record<string, unknown>,
    en: JSON.parse(readFileSync(`${localesDir}en.json`, 'utf8')) as Record<string, unknown>,
  };
}

let instance: i18n | undefined;

/**
 * One i18next instance for the process, but never a "current language": every call names its locale,
 * because two fans served at the same moment may speak different languages.
 */
function getInstance(): i18n {
  if (instance) return instance;
  const resources = loadLocaleResources();
  const created = i18next.createInstance();
  void created.init({
    initAsync: false,
    resources: { it: { translation: resources.it }, en: { translation: resources.en } },
    fallbackLng: 'en',
    supportedLngs: [...LOCALES],
    interpolation: { escapeValue: false },
    returnNull: false,
  });
  instance = created;
  return created;
}

export function toLocale(value: string | undefined | null, fallback: Locale): Locale {
  const short = (value ?? '').slice(0, 2).toLowerCase();
  return (LOCALES as readonly string[]).includes(short) ? (short as Locale) : fallback;
}

export function translator(locale: Locale): TFunction {
  return getInstance().getFixedT(locale);
}

export function t(locale: Locale, key: string, vars?: Record<string, unknown>): string {
  return getInstance().getFixedT(locale)(key, vars ?? {});
}
