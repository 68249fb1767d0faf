import type { Config, Locale } from './config/index.js';

const escapeHtml = (s: string): string =>
  s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );

const TEXT: Record<Locale, { title: string; body: string[] }> = {
  it: {
    title: 'Informativa privacy',
    body: [
      "Questa pagina usa un assistente automatico in Messenger. Trattiamo l'ID con cui Messenger ti identifica per questa pagina, il nome e la lingua del tuo profilo pubblico, i messaggi che ci scrivi e le tue scelte (carrello, adesioni agli acquisti di gruppo, ordini, inviti).",
      'Usiamo questi dati solo per risponderti, gestire ordini e acquisti di gruppo e, se lo chiedi, inviarti offerte. Non li vendiamo.',
      "Puoi chiedere la cancellazione dei tuoi dati in qualsiasi momento scrivendo «cancella i miei dati» in chat, o rimuovendo l'app dalle impostazioni di Facebook.",
    ],
  },
  en: {
    title: 'Privacy policy',
    body: [
      "This Page uses an automated assistant in Messenger. We process the ID Messenger gives you for this Page, your public profile's name and language, the messages you send us and your choices (cart, group-buy pledges, orders, invitations).",
      'We use this data only to answer you, handle orders and group buys and, if you ask, send you offers. We do not sell it.',
      'You can ask us to delete your data at any time by writing “delete my data” in the chat, or by removing the app in your Facebook settings.',
    ],
  },
};

export function privacyPage(locale: Locale, config: Pick<Config, 'facebook'>): string {
  const text = TEXT[locale];
  return `<!doctype html><html lang="${locale}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(text.title)}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem;color:#1c1e21}</style></head>
<body><h1>${escapeHtml(text.title)} — ${escapeHtml(config.facebook.page.name)}</h1>${text.body.map((p) => `<p>${escapeHtml(p)}</p>`).join('')}
<p><a href="?lang=it">Italiano</a> · <a href="?lang=en">English</a></p></body></html>`;
}
