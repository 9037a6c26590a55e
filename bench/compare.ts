// `npm run bench -- --compare FILE`: each figure of this run beside the same figure of an earlier
// one (matched by scenario and id), with the ratio now / before, and a mark where it moved the
// wrong way by more than the threshold (10% by default), so a regression shows at a glance.

import { formatValue, type BenchResults, type Figure } from './results.ts';

export interface Comparison {
  text: string;
  worse: number;
  better: number;
}

type Verdict = 'worse' | 'better' | 'same' | 'new' | 'gone' | '';

export function compareResults(before: BenchResults, now: BenchResults, thresholdPercent = 10, color = false): Comparison {
  const rows: { scenario: string; what: string; before: string; now: string; ratio: string; verdict: Verdict }[] = [];
  const scenarios = [...new Set([...Object.keys(now.scenarios), ...Object.keys(before.scenarios)])].filter((s) => now.scenarios[s]);
  for (const name of scenarios) {
    const prev = new Map((before.scenarios[name]?.figures ?? []).map((f) => [f.id, f]));
    const seen = new Set<string>();
    for (const f of now.scenarios[name]!.figures) {
      seen.add(f.id);
      const p = prev.get(f.id);
      rows.push({ scenario: name, what: f.what, before: p ? formatValue(p.value, p.unit) : '-', now: formatValue(f.value, f.unit), ...judge(p, f, thresholdPercent) });
    }
    for (const [id, p] of prev) {
      if (!seen.has(id)) rows.push({ scenario: name, what: p.what, before: formatValue(p.value, p.unit), now: '-', ratio: '', verdict: 'gone' });
    }
  }
  const head = ['scenario', 'figure', 'before', 'now', 'now/before', ''];
  const cells = rows.map((r) => [r.scenario, r.what, r.before, r.now, r.ratio, mark(r.verdict, thresholdPercent)]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[], verdict?: Verdict) => {
    const text = c.map((v, i) => (i >= 2 && i <= 4 ? v.padStart(widths[i]!) : v.padEnd(widths[i]!))).join('  ').trimEnd();
    if (!color || !verdict) return text;
    return verdict === 'worse' ? `\x1b[31m${text}\x1b[0m` : verdict === 'better' ? `\x1b[32m${text}\x1b[0m` : text;
  };
  const worse = rows.filter((r) => r.verdict === 'worse').length;
  const better = rows.filter((r) => r.verdict === 'better').length;
  const text = [
    line(head),
    ...cells.map((c, i) => line(c, rows[i]!.verdict)),
    '',
    `${worse} figure${worse === 1 ? '' : 's'} worse by more than ${thresholdPercent}%, ${better} better by more than ${thresholdPercent}%, of ${rows.length}.`
      + ' Ratios are now / before; which way is better depends on the figure (time and memory: lower; rates and speed-ups: higher).',
  ].join('\n');
  return { text, worse, better };
}

function judge(before: Figure | undefined, now: Figure, threshold: number): { ratio: string; verdict: Verdict } {
  if (!before) return { ratio: '', verdict: 'new' };
  if (before.value === null || now.value === null) {
    if (before.value === now.value) return { ratio: '', verdict: 'same' };
    // finishing where it did not is better, and the other way round worse, whichever way numbers go
    return { ratio: '', verdict: now.value === null ? (now.better ? 'worse' : '') : (now.better ? 'better' : '') };
  }
  if (before.value === 0) return { ratio: now.value === 0 ? '1.00x' : '', verdict: now.value === 0 || !now.better ? 'same' : now.better === 'lower' ? 'worse' : 'better' };
  const r = now.value / before.value;
  const ratio = `${r.toFixed(2)}x`;
  if (!now.better) return { ratio, verdict: '' };
  const limit = 1 + threshold / 100;
  const worse = now.better === 'lower' ? r > limit : r < 1 / limit;
  const better = now.better === 'lower' ? r < 1 / limit : r > limit;
  return { ratio, verdict: worse ? 'worse' : better ? 'better' : 'same' };
}

function mark(v: Verdict, threshold: number): string {
  switch (v) {
    case 'worse': return `<<< WORSE (> ${threshold}%)`;
    case 'better': return 'better';
    case 'new': return 'new';
    case 'gone': return 'not measured now';
    case 'same':
    case '':
      return '';
    default: {
      const _exhaustive: never = v;
      return _exhaustive;
    }
  }
}
