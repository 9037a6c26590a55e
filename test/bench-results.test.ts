// The benchmarks' data, apart from measuring: --compare marks a figure that moved the wrong way by
// more than the threshold (which way is wrong depends on the figure), and the charts are drawn from
// a results file as SVG holding what they show.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { writeCharts } from '../bench/charts.ts';
import { compareResults } from '../bench/compare.ts';
import { formatValue, loadResults, mergeResults, SCHEMA, type BenchResults, type Figure } from '../bench/results.ts';
import { ROOT, tempDir } from './helpers.ts';

const machine = { cpus: 2, cpu_model: 'test', memory_gib: 1, node: 'v24' };
const run = (figures: Figure[], scenario = 'round-trip'): BenchResults => ({
  schema: SCHEMA, scenarios: { [scenario]: { measured_at: '2026-12-01T00:00:00.000Z', machine, figures } },
});
const ms = (id: string, value: number | null): Figure => ({ id, what: id, value, unit: 'ms', better: 'lower' });
const rate = (id: string, value: number): Figure => ({ id, what: id, value, unit: 'per_s', better: 'higher' });

test('--compare: ratios now/before, a regression beyond the threshold marked whichever way the figure is better', () => {
  const before = run([ms('a', 100), ms('b', 100), rate('c', 1000), rate('d', 1000), ms('e', 100), ms('gone', 5), ms('dnf', 100)]);
  const now = run([ms('a', 109), ms('b', 130), rate('c', 850), rate('d', 1300), ms('e', 50), ms('new', 1), ms('dnf', null)]);
  const c = compareResults(before, now, 10);
  const line = (id: string) => c.text.split('\n').find((l) => l.split(/\s{2,}/)[1] === id)!;
  assert.match(line('a'), /1\.09x\s*$/, 'within 10%: no mark');
  assert.match(line('b'), /1\.30x\s+<<< WORSE \(> 10%\)/, 'slower');
  assert.match(line('c'), /0\.85x\s+<<< WORSE/, 'a lower rate is worse');
  assert.match(line('d'), /1\.30x\s+better/);
  assert.match(line('e'), /0\.50x\s+better/);
  assert.match(line('new'), /new$/);
  assert.match(line('gone'), /not measured now$/);
  assert.match(line('dnf'), /did not finish\s+<<< WORSE/, 'finished before, not now');
  assert.equal(c.worse, 3);
  assert.equal(c.better, 2);
  assert.match(c.text, /3 figures worse by more than 10%, 2 better by more than 10%/);
});

test('a run merged into the published results replaces its own scenarios and keeps the others', () => {
  const published = mergeResults(run([ms('x', 1)], 'footprint'), run([ms('a', 1)]));
  const merged = mergeResults(published, run([ms('a', 2)]));
  assert.deepEqual(Object.keys(merged.scenarios).sort(), ['footprint', 'round-trip']);
  assert.equal(merged.scenarios['round-trip']!.figures[0]!.value, 2);
});

test('the charts are drawn from a results file: SVG with their titles, series and values', async (t) => {
  const dir = tempDir(t);
  const published = loadResults(join(ROOT, 'docs', 'bench', 'results.json'));
  const files = await writeCharts(published, dir);
  // values the charts label, as the published file has them (it changes with every full run)
  const value = (scenario: string, id: string) => published.scenarios[scenario]!.figures.find((f) => f.id === id)!.value!;
  const ansible = formatValue(value('fan-out', 'n=100.ansible'), 'ms');
  const rss = formatValue(value('poll-capacity', 'n=5000.rss'), 'MiB');
  assert.deepEqual(files.map((f) => f.slice(dir.length + 1)).sort(), ['fan-out.svg', 'poll-capacity.svg', 'round-trip.svg']);
  const svg = (name: string) => readFileSync(join(dir, name), 'utf8');
  assert.match(svg('fan-out.svg'), /^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  for (const text of ['time until every result is in', 'pdsh -f 100', 'ansible -f 50', '`myx run` CLI', ansible]) assert.ok(svg('fan-out.svg').includes(text), `fan-out: ${text}`);
  for (const text of ['round trip', 'ssh (multiplexed)', 'myx push (API)', 'p99']) assert.ok(svg('round-trip.svg').includes(text), `round-trip: ${text}`);
  for (const text of ['RSS (MiB)', 'control plane', rss, 'target: p99 &lt; 100 ms']) assert.ok(svg('poll-capacity.svg').includes(text), `poll-capacity: ${text}`);
  // only the charts of the scenarios asked for
  assert.deepEqual((await writeCharts(loadResults(join(ROOT, 'docs', 'bench', 'results.json')), dir, ['poll-capacity'])).map((f) => f.slice(dir.length + 1)), ['poll-capacity.svg']);
});
