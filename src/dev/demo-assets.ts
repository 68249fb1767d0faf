import express, { type Router } from 'express';

/**
 * Placeholder product pictures for the demo catalogue: `GET /static/demo/<name>.svg`, drawn here
 * (a garment silhouette in the product's colour and its name), so the repository carries no images.
 * Mount at the app root: `app.use(createDemoAssetsRouter())`.
 */

type Shape = 'jeans' | 'tee' | 'jacket';

const PICTURES: Record<string, { shape: Shape; colour: string; label: string }> = {
  'jeans-indigo': { shape: 'jeans', colour: '#27406b', label: 'Slim Indaco' },
  'jeans-stone': { shape: 'jeans', colour: '#7b9cc4', label: 'Regular Stone' },
  'jeans-black': { shape: 'jeans', colour: '#222222', label: 'Skinny Nero' },
  'jeans-wide': { shape: 'jeans', colour: '#3d5f99', label: 'Wide Leg' },
  'jeans-ripped': { shape: 'jeans', colour: '#8fb0d6', label: 'Boyfriend' },
  'tee-white': { shape: 'tee', colour: '#f4f4f0', label: 'Logo Tee' },
  'tee-black': { shape: 'tee', colour: '#1f1f1f', label: 'Oversize' },
  'tee-stripes': { shape: 'tee', colour: '#2c4a8a', label: 'Marinière' },
  'tee-sage': { shape: 'tee', colour: '#9cae8c', label: 'Salvia' },
  'jacket-trucker': { shape: 'jacket', colour: '#3a5a8c', label: 'Trucker' },
  'jacket-sherpa': { shape: 'jacket', colour: '#22304d', label: 'Sherpa' },
  'jacket-cord': { shape: 'jacket', colour: '#b08457', label: 'Velluto' },
};

const PATHS: Record<Shape, string> = {
  jeans: 'M150 60 H250 L262 340 H212 L200 140 L188 340 H138 Z',
  tee: 'M140 70 L175 60 Q200 80 225 60 L260 70 L300 120 L270 145 L255 130 V330 H145 V130 L130 145 L100 120 Z',
  jacket:
    'M140 70 L180 58 L200 90 L220 58 L260 70 L300 130 L285 330 H250 L248 150 V330 H152 V150 L150 330 H115 L100 130 Z',
};

function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function demoPicture(name: string): string | undefined {
  const p = PICTURES[name];
  if (!p) return undefined;
  const stroke = p.colour === '#f4f4f0' ? '#999' : 'none';
  return `<svg xmlns="http://www.w3.org/2000/svg" width="400" height="400" viewBox="0 0 400 400">
<rect width="400" height="400" fill="#efe9e1"/>
<path d="${PATHS[p.shape]}" fill="${p.colour}" stroke="${stroke}" stroke-width="2"/>
<text x="200" y="375" font-family="Helvetica, Arial, sans-serif" font-size="24" text-anchor="middle" fill="#333">Denim Lab · ${escapeXml(p.label)}</text>
</svg>`;
}

export const DEMO_ASSET_NAMES = Object.keys(PICTURES);

export function createDemoAssetsRouter(): Router {
  const router = express.Router();
  router.get('/static/demo/:file', (req, res) => {
    const m = /^([a-z0-9-]{1,40})\.svg$/.exec(req.params.file);
    const svg = m ? demoPicture(m[1]!) : undefined;
    if (!svg) {
      res.status(404).type('text/plain').send('not found');
      return;
    }
    res.setHeader('Cache-Control', 'public, max-age=86400');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.type('image/svg+xml').send(svg);
  });
  return router;
}
