// `npm run bench [-- scenario ...] [options]`: runs the benchmark scenarios (all by default), prints
// one markdown table each, and keeps every figure as data. Scenarios: round-trip, fan-out,
// simulated, poll-capacity, footprint, binaries, soak, replicas.
//
//   writes      bench-results.md (the tables) and bench-results.json (the figures, results.ts);
//               docs/bench/results.json gets this run's scenarios (the others stay) and the charts
//               drawn from them are written again (docs/bench/*.svg)
//   --compare FILE       afterwards, each figure beside FILE's, with the ratio, regressions marked
//   --compare FILE --to FILE2   compare two saved runs, running nothing
//   --charts-only FILE   draw the charts from a saved run into docs/bench/, running nothing
//   --no-charts          leave docs/bench/ alone
//   --threshold PCT      how much worse a figure may be before --compare marks it (default 10)
//   --note TEXT          kept with the results and shown on the charts (e.g. "other load on the machine")
//   --quick              fewer iterations, to check the bench itself (not for publishing)

import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { compareResults } from './compare.ts';
import { recordedResults, ROOT } from './lib.ts';
import { loadResults, mergeResults, saveResults, type BenchResults } from './results.ts';

const ALL = ['round-trip', 'fan-out', 'simulated', 'poll-capacity', 'footprint', 'binaries', 'soak', 'replicas'];
const DOCS = join(ROOT, 'docs', 'bench');
const PUBLISHED = join(DOCS, 'results.json');

const { values: o, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    compare: { type: 'string' }, to: { type: 'string' }, 'charts-only': { type: 'string' }, 'no-charts': { type: 'boolean' },
    threshold: { type: 'string' }, note: { type: 'string' }, quick: { type: 'boolean' },
  },
});
const threshold = o.threshold === undefined ? 10 : Number(o.threshold);
if (!(threshold >= 0)) throw new Error(`--threshold must be a percentage, got ${o.threshold}`);
const printComparison = (before: BenchResults, now: BenchResults) => {
  const c = compareResults(before, now, threshold, process.stdout.isTTY);
  console.log(`\n== compared with ${o.compare} ==\n${c.text}`);
};

if (o['charts-only']) {
  const { writeCharts } = await import('./charts.ts');
  mkdirSync(DOCS, { recursive: true });
  for (const file of await writeCharts(loadResults(o['charts-only']), DOCS)) console.log(`wrote ${file}`);
  process.exit(0);
}
if (o.to) {
  if (!o.compare) throw new Error('--to FILE goes with --compare FILE');
  printComparison(loadResults(o.compare), loadResults(o.to));
  process.exit(0);
}

const wanted = positionals.length ? positionals : ALL;
for (const w of wanted) if (!ALL.includes(w)) throw new Error(`unknown scenario ${w}; choose from ${ALL.join(', ')}`);
const before = o.compare ? loadResults(o.compare) : null; // read first: a bad file fails before an hour of measuring

const { roundTrip } = await import('./round-trip.ts');
const { setUpPeers } = await import('./peers.ts');
const needsPeers = wanted.includes('round-trip') || wanted.includes('fan-out');
const peers = needsPeers ? setUpPeers() : null;
const out: string[] = [`# myx benchmarks, ${new Date().toISOString()}`];
for (const w of wanted) {
  const started = Date.now();
  process.env.MYX_BENCH_SCENARIO = w;
  console.log(`\n== ${w} ==`);
  switch (w) {
    case 'round-trip': out.push(await roundTrip(peers, o.quick ? 20 : 100)); break;
    case 'fan-out': out.push(await (await import('./fan-out.ts')).fanOut(peers, o.quick ? [10] : undefined)); break;
    case 'simulated': out.push(await (await import('./simulated.ts')).simulated(o.quick ? [1000] : undefined)); break;
    case 'poll-capacity': out.push(await (await import('./poll-capacity.ts')).pollCapacity(o.quick ? [1000] : undefined, o.quick ? 10 : undefined)); break;
    case 'footprint': out.push(await (await import('./footprint.ts')).footprint(o.quick ? 5 : undefined)); break;
    case 'binaries': out.push(await (await import('./binaries.ts')).binaries(o.quick ? 3 : undefined)); break;
    case 'soak': out.push(await (await import('./soak.ts')).soak()); break;
    case 'replicas': out.push(await (await import('./replicas.ts')).replicas()); break;
  }
  console.log(`(${w} took ${((Date.now() - started) / 1000).toFixed(0)} s)`);
}
const results = recordedResults();
if (o.note) for (const s of Object.values(results.scenarios)) s.machine.note = o.note;
writeFileSync('bench-results.md', out.join('\n\n') + '\n');
saveResults('bench-results.json', results);
console.log('\nall tables written to bench-results.md, every figure to bench-results.json');
if (!o['no-charts']) {
  const { writeCharts } = await import('./charts.ts');
  mkdirSync(DOCS, { recursive: true });
  const published = mergeResults(existsSync(PUBLISHED) ? loadResults(PUBLISHED) : null, results);
  saveResults(PUBLISHED, published);
  const files = await writeCharts(published, DOCS, wanted);
  console.log(`${PUBLISHED} updated (${wanted.join(', ')}); charts: ${files.length ? files.map((f) => f.slice(ROOT.length + 1)).join(', ') : 'none of these scenarios has one'}`);
}
if (before) printComparison(before, results);
process.exit(0);
