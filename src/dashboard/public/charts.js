// chart.js, loaded only by the screens that draw charts (a same-origin <script>, allowed by the CSP).

/** @type {Promise<any> | null} */
let loading = null;

/** @returns {Promise<any>} the global `Chart` (UMD build) or null when it cannot be loaded */
export function loadChart() {
  const w = /** @type {any} */ (window);
  if (w.Chart) return Promise.resolve(w.Chart);
  loading ??= new Promise((resolve) => {
    const s = document.createElement('script');
    s.src = 'vendor/chart.umd.min.js';
    s.async = true;
    s.onload = () => resolve(w.Chart ?? null);
    s.onerror = () => {
      loading = null;
      resolve(null);
    };
    document.head.append(s);
  });
  return loading;
}

const PALETTE = [
  '#2563eb',
  '#16a34a',
  '#f59e0b',
  '#dc2626',
  '#7c3aed',
  '#0891b2',
  '#db2777',
  '#65a30d',
  '#64748b',
];

/**
 * A bar chart in `canvas` (updated in place when called again with the same canvas).
 * @param {HTMLCanvasElement} canvas
 * @param {string[]} labels
 * @param {number[]} values
 * @param {{ horizontal?: boolean, label?: string, colors?: string[] }} [opts]
 */
export async function barChart(canvas, labels, values, opts = {}) {
  const Chart = await loadChart();
  if (!Chart || !canvas.isConnected) return;
  const existing = Chart.getChart(canvas);
  const colors = opts.colors ?? labels.map((_, i) => PALETTE[i % PALETTE.length]);
  if (existing) {
    existing.data.labels = labels;
    existing.data.datasets[0].data = values;
    existing.data.datasets[0].backgroundColor = colors;
    existing.update('none');
    return;
  }
  new Chart(canvas, {
    type: 'bar',
    data: { labels, datasets: [{ label: opts.label ?? '', data: values, backgroundColor: colors }] },
    options: {
      indexAxis: opts.horizontal ? 'y' : 'x',
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      plugins: { legend: { display: false } },
      scales: { [opts.horizontal ? 'x' : 'y']: { beginAtZero: true, ticks: { precision: 0 } } },
    },
  });
}

/**
 * A doughnut chart (reach by policy).
 * @param {HTMLCanvasElement} canvas
 * @param {string[]} labels
 * @param {number[]} values
 */
export async function doughnutChart(canvas, labels, values) {
  const Chart = await loadChart();
  if (!Chart || !canvas.isConnected) return;
  const existing = Chart.getChart(canvas);
  if (existing) {
    existing.data.labels = labels;
    existing.data.datasets[0].data = values;
    existing.update('none');
    return;
  }
  new Chart(canvas, {
    type: 'doughnut',
    data: { labels, datasets: [{ data: values, backgroundColor: PALETTE.slice(0, values.length) }] },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      plugins: { legend: { position: 'right' } },
    },
  });
}
