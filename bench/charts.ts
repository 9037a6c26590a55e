// The benchmark charts, drawn from results (results.ts) as SVG files in docs/bench/: fan-out time
// against N next to pdsh and Ansible, the round-trip latency distribution, and the control plane's
// memory and heartbeat latency against held agents. Vega-Lite describes each chart (a few lines of
// JSON: data, marks, scales) and Vega renders it to SVG in Node, with no browser and no canvas.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { formatValue, type BenchResults, type Figure, type ScenarioResult } from './results.ts';

const WIDTH = 560;
const FONT = 'Helvetica, Arial, sans-serif';
const CONFIG = {
  font: FONT,
  background: 'white',
  title: { fontSize: 15, subtitleFontSize: 11, subtitleColor: '#555', anchor: 'start' as const, offset: 12 },
  axis: { labelFontSize: 11, titleFontSize: 12, gridColor: '#e6e6e6' },
  legend: { labelFontSize: 11, titleFontSize: 11, orient: 'bottom' as const, direction: 'horizontal' as const, columns: 3 },
  view: { stroke: null },
};

interface Chart {
  file: string;
  /** Which scenarios it is drawn from (a run without them leaves the file as it is). */
  scenarios: string[];
  spec: (r: BenchResults) => TopLevelSpec | null;
}

const CHARTS: Chart[] = [
  { file: 'fan-out.svg', scenarios: ['fan-out', 'simulated'], spec: fanOutChart },
  { file: 'round-trip.svg', scenarios: ['round-trip'], spec: roundTripChart },
  { file: 'poll-capacity.svg', scenarios: ['poll-capacity'], spec: pollCapacityChart },
];

/** Writes every chart whose scenarios `results` has (only those of `scenarios`, when given); returns the files written. */
export async function writeCharts(results: BenchResults, outDir: string, scenarios?: string[]): Promise<string[]> {
  const vega = await import('vega');
  const { compile } = await import('vega-lite');
  const written: string[] = [];
  for (const chart of CHARTS) {
    if (scenarios && !chart.scenarios.some((s) => scenarios.includes(s))) continue;
    const spec = chart.spec(results);
    if (!spec) continue;
    const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
    const svg = await view.toSVG();
    view.finalize();
    const path = join(outDir, chart.file);
    writeFileSync(path, svg + '\n');
    written.push(path);
  }
  return written;
}

/** When and where: `measured 2026-11-29 on 2 cores (AMD EPYC), Node v24.2.0; note`, one line per distinct machine. */
function measured(r: BenchResults, ...names: string[]): string[] {
  const lines = names.flatMap((n) => {
    const s = r.scenarios[n];
    if (!s) return [];
    const m = s.machine;
    return [`measured ${s.measured_at.slice(0, 10)}, ${m.cpus} cores (${m.cpu_model}), Node ${m.node}`, ...(m.note ? [m.note] : [])];
  });
  return [...new Set(lines)];
}

/** 1-2-5 steps covering [min, max]: ticks on a log axis that a person reads at a glance. */
function logTicks(values: number[]): number[] {
  const lo = Math.min(...values) / 1.2;
  const hi = Math.max(...values) * 1.2;
  const out: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v >= lo / 2.5 && v <= hi * 2.5) out.push(Number(v.toPrecision(3)));
    }
  }
  return out;
}

/** Axis labels for milliseconds: `20 ms`, `1.5 s`. */
const MS_LABEL = "datum.value >= 1000 ? format(datum.value / 1000, '~g') + ' s' : format(datum.value, '~g') + ' ms'";
/** Axis labels for seconds: `200 ms`, `5 s`. */
const S_LABEL = "datum.value < 1 ? format(datum.value * 1000, '~g') + ' ms' : format(datum.value, '~g') + ' s'";

function figures(s: ScenarioResult | undefined, keep: (f: Figure) => boolean): Figure[] {
  return (s?.figures ?? []).filter(keep);
}

function fanOutChart(r: BenchResults): TopLevelSpec | null {
  const real = figures(r.scenarios['fan-out'], (f) => f.unit === 'ms' && typeof f.params?.tool === 'string' && f.value !== null);
  const sim = figures(r.scenarios.simulated, (f) => f.id.endsWith('.warm.stored') && f.value !== null);
  if (real.length === 0 && sim.length === 0) return null;
  const order = ['`myx run` CLI', 'myx via the API', 'myx, simulated agents (warm)', 'pdsh -f 100', 'ansible -f 50'];
  const values = [
    ...real.map((f) => ({ tool: f.params!.tool as string, n: Number(f.params!.n), seconds: f.value! / 1000, label: formatValue(f.value, 'ms') })),
    ...sim.map((f) => ({ tool: 'myx, simulated agents (warm)', n: Number(f.params!.n), seconds: f.value! / 1000, label: formatValue(f.value, 'ms') })),
  ];
  // each line is labelled at its largest N only, where lines are furthest apart
  const last = values.filter((v) => !values.some((w) => w.tool === v.tool && w.n > v.n));
  const ns = [...new Set(values.map((v) => v.n))].sort((a, b) => a - b);
  const unfinished = [
    ...figures(r.scenarios.simulated, (f) => f.id.endsWith('.stored') && f.value === null).map((f) => `not shown: ${f.params?.n ?? ''} simulated agents (${f.params?.round ?? ''}), ${f.note ?? 'did not finish'}`),
    ...figures(r.scenarios['fan-out'], (f) => f.value === null).map((f) => `not shown: ${f.what}, ${f.note ?? 'did not finish'}`),
  ];
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    config: CONFIG,
    width: WIDTH,
    height: 330,
    title: {
      text: 'Fan-out of "true" to N agents: time until every result is in',
      subtitle: [
        'Lower is better; both axes log scale. Real agents: one process per loopback address; pdsh and Ansible over ssh to the same addresses.',
        'Simulated agents: HTTPS endpoints that answer at once (the control plane\'s own throughput).',
        ...unfinished,
        ...measured(r, 'fan-out', 'simulated'),
      ],
    },
    data: { values },
    layer: [
      {
        mark: { type: 'line', point: { filled: true, size: 60 }, strokeWidth: 2 },
        encoding: {
          x: { field: 'n', type: 'quantitative', scale: { type: 'log', padding: 12 }, axis: { title: 'agents (N, log)', values: ns, format: ',d', grid: true } },
          y: { field: 'seconds', type: 'quantitative', scale: { type: 'log' }, axis: { title: 'until every result is stored (log)', values: logTicks(values.map((v) => v.seconds)), labelExpr: S_LABEL } },
          color: { field: 'tool', type: 'nominal', sort: order, scale: { domain: order, range: ['#1f77b4', '#17becf', '#9467bd', '#ff7f0e', '#d62728'] }, legend: { title: null, labelLimit: 260, columns: 2 } },
          strokeDash: { field: 'tool', type: 'nominal', sort: order, scale: { domain: order, range: [[1, 0], [1, 0], [5, 3], [1, 0], [1, 0]] } },
        },
      },
      {
        data: { values: last },
        mark: { type: 'text', dx: 7, align: 'left', baseline: 'middle', fontSize: 10, color: '#333' },
        encoding: { x: { field: 'n', type: 'quantitative' }, y: { field: 'seconds', type: 'quantitative' }, text: { field: 'label' } },
      },
    ],
  } as TopLevelSpec;
}

function roundTripChart(r: BenchResults): TopLevelSpec | null {
  const s = r.scenarios['round-trip'];
  const byPath = new Map<string, { id: string; p50?: number; p90?: number; p99?: number }>();
  for (const f of figures(s, (x) => x.unit === 'ms' && typeof x.params?.path === 'string' && x.value !== null)) {
    const id = f.id.replace(/\.p\d+$/, '');
    const row = byPath.get(f.params!.path as string) ?? { id };
    row[f.params!.stat as 'p50' | 'p90' | 'p99'] = f.value!;
    byPath.set(f.params!.path as string, row);
  }
  const rows = [...byPath].filter(([, v]) => v.p50 !== undefined && v.p99 !== undefined).map(([path, v]) => ({ path, ...v }));
  if (rows.length === 0) return null;
  const order = rows.sort((a, b) => a.p50! - b.p50!).map((x) => x.path);
  const points = rows.flatMap((x) => (['p50', 'p90', 'p99'] as const).map((stat) => ({ path: x.path, stat, ms: x[stat], label: stat === 'p50' ? formatValue(x.p50!, 'ms') : '' })));
  const sampled = rows.flatMap((x) => (s?.samples?.[x.id]?.values ?? []).map((ms) => ({ path: x.path, ms })));
  const y = { field: 'path', type: 'nominal' as const, sort: order, axis: { title: null, labelLimit: 200 } };
  const all = [...points.map((p) => p.ms!), ...sampled.map((p) => p.ms)];
  const x = { field: 'ms', type: 'quantitative' as const, scale: { type: 'log' as const }, axis: { title: 'from request to result (log)', values: logTicks(all), labelExpr: MS_LABEL, grid: true } };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    config: CONFIG,
    width: WIDTH,
    height: { step: 34 },
    title: {
      text: 'One command ("true") on one agent: round trip',
      subtitle: [
        'Lower is better. The bar runs from p50 to p99; grey ticks are the single runs where the bench kept them.',
        ...measured(r, 'round-trip'),
      ],
    },
    layer: [
      ...(sampled.length ? [{ data: { values: sampled }, mark: { type: 'tick' as const, color: '#888', opacity: 0.35, thickness: 1 }, encoding: { x, y } }] : []),
      {
        data: { values: rows },
        mark: { type: 'rule', strokeWidth: 3, color: '#9ecae1' },
        encoding: { x: { ...x, field: 'p50' }, x2: { field: 'p99' }, y },
      },
      {
        data: { values: points },
        mark: { type: 'point', filled: true, size: 70 },
        encoding: {
          x, y,
          shape: { field: 'stat', type: 'nominal', scale: { domain: ['p50', 'p90', 'p99'], range: ['circle', 'diamond', 'triangle-right'] }, legend: { title: null } },
          color: { field: 'stat', type: 'nominal', scale: { domain: ['p50', 'p90', 'p99'], range: ['#08519c', '#3182bd', '#6baed6'] }, legend: { title: null } },
        },
      },
      {
        data: { values: points.filter((p) => p.label) },
        mark: { type: 'text', dy: -12, fontSize: 10, color: '#08519c' },
        encoding: { x, y, text: { field: 'label' } },
      },
    ],
  } as TopLevelSpec;
}

function pollCapacityChart(r: BenchResults): TopLevelSpec | null {
  const s = r.scenarios['poll-capacity'];
  const at = (suffix: string) => figures(s, (f) => f.id.endsWith(suffix) && f.value !== null).map((f) => ({ n: Number(f.params!.n), value: f.value!, label: formatValue(f.value, f.unit) }));
  const CP = 'control plane';
  const FLOOR = 'bare node:https server, as many connections';
  const rss = at('.rss').filter((v, i, all) => all.findIndex((w) => w.n === v.n) === i);
  const memory = [
    ...figures(s, (f) => /^n=\d+\.rss$/.test(f.id) && f.value !== null).map((f) => ({ n: Number(f.params!.n), value: f.value!, label: formatValue(f.value, f.unit), series: CP })),
    ...figures(s, (f) => f.id.endsWith('.tls_floor.rss') && f.value !== null).map((f) => ({ n: Number(f.params!.n), value: f.value!, label: formatValue(f.value, f.unit), series: FLOOR })),
  ];
  const p99 = at('.heartbeat.p99');
  const errors = at('.errors');
  if (rss.length === 0) return null;
  const x = { field: 'n', type: 'quantitative' as const, scale: { zero: true }, axis: { title: 'long-polling agents held', values: rss.map((v) => v.n), format: ',d', grid: true } };
  const errorNote = errors.length ? [`heartbeat errors in the window: ${errors.map((e) => `${e.label} at ${e.n.toLocaleString('en-US')}`).join(', ')}`] : [];
  const line = (color: string) => ({ type: 'line' as const, point: { filled: true, size: 60, color }, color, strokeWidth: 2 });
  const label = { type: 'text' as const, dx: 6, dy: -8, align: 'left' as const, fontSize: 10, color: '#333' };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    config: CONFIG,
    title: {
      text: 'Poll capacity: what holding N agents costs one control plane',
      subtitle: ['Each agent holds a long poll open and heartbeats at the interval it is told (paced for the 20,000 agents registered first: 50-100 s); lower is better in both.', ...errorNote, ...measured(r, 'poll-capacity')],
    },
    vconcat: [
      {
        width: WIDTH, height: 200, data: { values: memory },
        layer: [
          {
            mark: { type: 'line', point: { filled: true, size: 60 }, strokeWidth: 2 },
            encoding: {
              x, y: { field: 'value', type: 'quantitative', axis: { title: 'RSS (MiB)' }, scale: { zero: true } },
              color: { field: 'series', type: 'nominal', scale: { domain: [CP, FLOOR], range: ['#1f77b4', '#888'] }, legend: { orient: 'top', title: null, labelLimit: 400 } },
              strokeDash: { field: 'series', type: 'nominal', scale: { domain: [CP, FLOOR], range: [[1, 0], [5, 4]] } },
            },
          },
          { mark: label, encoding: { x, y: { field: 'value', type: 'quantitative' }, text: { field: 'label' } } },
        ],
      },
      {
        width: WIDTH, height: 200,
        layer: [
          {
            data: { values: p99 },
            layer: [
              {
                mark: line('#d62728'),
                encoding: { x, y: { field: 'value', type: 'quantitative', scale: { type: 'log' }, axis: { title: 'heartbeat p99 (log)', values: logTicks([...p99.map((v) => v.value), 100]), labelExpr: MS_LABEL } } },
              },
              { mark: label, encoding: { x, y: { field: 'value', type: 'quantitative' }, text: { field: 'label' } } },
            ],
          },
          {
            data: { values: [{ value: 100, label: 'target: p99 < 100 ms' }] },
            layer: [
              { mark: { type: 'rule', strokeDash: [4, 4], color: '#555' }, encoding: { y: { field: 'value', type: 'quantitative' } } },
              { mark: { type: 'text', align: 'right', dy: -6, x: WIDTH, fontSize: 10, color: '#555' }, encoding: { y: { field: 'value', type: 'quantitative' }, text: { field: 'label' } } },
            ],
          },
        ],
      },
    ],
  } as TopLevelSpec;
}
