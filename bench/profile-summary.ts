// Reads V8 CPU profiles (`--cpu-prof`, MYX_BENCH_CPU_PROF) and prints where the time went: self
// time by function and by file, and the total time under the given function names (inclusive).
//
//   node bench/profile-summary.ts PROFILE.cpuprofile [--top N] [--under name1,name2] [--window FROM,TO --loop LOOP.jsonl]
//
// --window: epoch ms (as the bench prints them); --loop: the process's loop-probe file, which maps them to the profile's clock.

import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
}

const args = process.argv.slice(2);
const opt = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args.splice(i, 2)[1] : undefined;
};
const top = Number(opt('--top') ?? 30);
const under = (opt('--under') ?? '').split(',').filter(Boolean);
/** --callers NAME: the call paths (5 frames up) that lead to NAME's self time. */
const callersOf = opt('--callers');
const window = opt('--window')?.split(',').map(Number);
const loopFile = opt('--loop');
/** Epoch ms to the profiles' monotonic µs, from the loop probe's lines. */
let offsetUs = 0;
if (window && loopFile) {
  const last = readFileSync(loopFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { at: number; mono_us: number }).pop()!;
  offsetUs = last.mono_us - last.at * 1000;
}
const fromUs = window ? window[0]! * 1000 + offsetUs : -Infinity;
const toUs = window ? window[1]! * 1000 + offsetUs : Infinity;

for (const file of args) {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<number, number>();
  let t = p.startTime;
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i]!;
    if (t < fromUs || t > toUs) continue;
    const dt = (p.timeDeltas[i + 1] ?? 0) / 1000;
    self.set(p.samples[i]!, (self.get(p.samples[i]!) ?? 0) + dt);
    total += dt;
  }
  const name = (n: Node) => `${n.callFrame.functionName || '(anonymous)'} ${basename(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
  const fns = new Map<string, number>();
  const files = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const paths = new Map<string, number>();
  for (const [id, ms] of self) {
    const n = byId.get(id)!;
    fns.set(name(n), (fns.get(name(n)) ?? 0) + ms);
    const f = n.callFrame.url ? basename(n.callFrame.url) : `(${n.callFrame.functionName})`;
    files.set(f, (files.get(f) ?? 0) + ms);
    if (callersOf && n.callFrame.functionName === callersOf) {
      const chain: string[] = [];
      for (let cur = parent.get(id); cur !== undefined && chain.length < 6; cur = parent.get(cur)) chain.push(name(byId.get(cur)!));
      paths.set(chain.join(' < '), (paths.get(chain.join(' < ')) ?? 0) + ms);
    }
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const fn = byId.get(cur)!.callFrame.functionName;
      if (under.includes(fn) && !seen.has(fn)) {
        seen.add(fn);
        inclusive.set(fn, (inclusive.get(fn) ?? 0) + ms);
      }
    }
  }
  const show = (title: string, m: Map<string, number>, n: number) => {
    console.log(`\n${title}`);
    for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, n)) console.log(`${v.toFixed(0).padStart(8)} ms ${((v / total) * 100).toFixed(1).padStart(5)} %  ${k}`);
  };
  console.log(`${file}: ${(total / 1000).toFixed(2)} s sampled`);
  show('self time by function', fns, top);
  show('self time by file', files, Math.min(top, 20));
  if (under.length) show('inclusive time under', inclusive, under.length);
  if (callersOf) show(`callers of ${callersOf}`, paths, 10);
}
