// `npm run bench [-- scenario ...]`: runs the benchmark scenarios (all by default) and prints one
// markdown table each. Scenarios: round-trip, fan-out, simulated, poll-capacity, footprint, binaries, soak, replicas.

import { writeFileSync } from 'node:fs';
import { roundTrip } from './round-trip.ts';
import { setUpPeers } from './peers.ts';

const all = ['round-trip', 'fan-out', 'simulated', 'poll-capacity', 'footprint', 'binaries', 'soak', 'replicas'];
const wanted = process.argv.slice(2).length ? process.argv.slice(2) : all;
for (const w of wanted) if (!all.includes(w)) throw new Error(`unknown scenario ${w}; choose from ${all.join(', ')}`);

const needsPeers = wanted.includes('round-trip') || wanted.includes('fan-out');
const peers = needsPeers ? setUpPeers() : null;
const out: string[] = [`# myx benchmarks, ${new Date().toISOString()}`];
for (const w of wanted) {
  const started = Date.now();
  process.env.MYX_BENCH_SCENARIO = w;
  console.log(`\n== ${w} ==`);
  switch (w) {
    case 'round-trip': out.push(await roundTrip(peers)); break;
    case 'fan-out': out.push(await (await import('./fan-out.ts')).fanOut(peers)); break;
    case 'simulated': out.push(await (await import('./simulated.ts')).simulated()); break;
    case 'poll-capacity': out.push(await (await import('./poll-capacity.ts')).pollCapacity()); break;
    case 'footprint': out.push(await (await import('./footprint.ts')).footprint()); break;
    case 'binaries': out.push(await (await import('./binaries.ts')).binaries()); break;
    case 'soak': out.push(await (await import('./soak.ts')).soak()); break;
    case 'replicas': out.push(await (await import('./replicas.ts')).replicas()); break;
  }
  console.log(`(${w} took ${((Date.now() - started) / 1000).toFixed(0)} s)`);
}
writeFileSync('bench-results.md', out.join('\n\n') + '\n');
console.log('\nall tables written to bench-results.md');
process.exit(0);
