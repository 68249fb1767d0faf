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

type PageConfig = Pick<Config, 'facebook'> & Partial<Pick<Config, 'publicUrl' | 'retention'>>;

const days = (ms: number): number => Math.round(ms / 86_400_000);

/** The paragraphs that depend on the deployment: retention periods and Meta's deletion callback. */
function deploymentParagraphs(locale: Locale, config: PageConfig): string[] {
  const out: string[] = [];
  const r = config.retention;
  if (r) {
    out.push(
      locale === 'it'
        ? `Per quanto tempo: i messaggi che ci scrivi sono conservati ${days(r.inboxMs)} giorni dopo essere stati gestiti, i messaggi che ti inviamo ${days(r.outboxMs)} giorni, lo stato della conversazione con l'assistente ${days(r.dialogStateMs)} giorni dall'ultimo messaggio; poi sono cancellati automaticamente. Gli ordini sono conservati per gli obblighi di legge.`
        : `How long: the messages you send us are kept ${days(r.inboxMs)} days after they are handled, the messages we send you ${days(r.outboxMs)} days, and the state of your conversation with the assistant ${days(r.dialogStateMs)} days after your last message; then they are deleted automatically. Orders are kept as the law requires.`,
    );
  }
  if (config.publicUrl) {
    const url = `${config.publicUrl}/privacy/deletion`;
    out.push(
      locale === 'it'
        ? `Se rimuovi l'app dalle impostazioni di Facebook, Meta ci chiede di cancellare i tuoi dati tramite il nostro indirizzo di richiesta di cancellazione (${url}); ti viene dato un codice di conferma per seguire lo stato della richiesta.`
        : `If you remove the app in your Facebook settings, Meta asks us to delete your data through our data deletion callback (${url}); you get a confirmation code to follow the status of the request.`,
    );
  }
  return out;
}

export function privacyPage(locale: Locale, config: PageConfig): string {
  const text = { ...TEXT[locale], body: [...TEXT[locale].body, ...deploymentParagraphs(locale, config)] };
  return `<!doctype html><html lang="${locale}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(text.title)}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem;color:#1c1e21}</style></head>
<body><h1>${escapeHtml(text.title)} — ${escapeHtml(config.facebook.page.name)}</h1>${text.body.map((p) => `<p>${escapeHtml(p)}</p>`).join('')}
<p><a href="?lang=it">Italiano</a> · <a href="?lang=en">English</a></p></body></html>`;
}
