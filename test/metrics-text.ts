// Reads the Prometheus text format (0.0.4) as a scraper would, strictly enough to catch a broken
// exposition: every sample line must parse, and every metric must have its # HELP and # TYPE.

import assert from 'node:assert/strict';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export class Scrape {
  readonly samples: Sample[];
  readonly types: Map<string, string>;

  constructor(text: string) {
    this.samples = [];
    this.types = new Map();
    const helps = new Set<string>();
    for (const line of text.split('\n')) {
      if (line === '') continue;
      const comment = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
      if (comment) {
        if (comment[1] === 'TYPE') this.types.set(comment[2]!, comment[3]!);
        else helps.add(comment[2]!);
        continue;
      }
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
      assert.ok(m, `not a sample line: ${line}`);
      const labels: Record<string, string> = {};
      for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/g)) labels[l[1]!] = l[2]!;
      const value = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : /^nan$/i.test(m[3]!) ? NaN : Number(m[3]);
      assert.ok(!Number.isNaN(value) || /^nan$/i.test(m[3]!), `not a value: ${line}`);
      this.samples.push({ name: m[1]!, labels, value });
    }
    for (const s of this.samples) {
      const family = this.types.has(s.name) ? s.name : s.name.replace(/_(bucket|sum|count|total)$/, '');
      assert.ok(this.types.has(family) || this.types.has(s.name.replace(/_(bucket|sum|count)$/, '')), `no # TYPE for ${s.name}`);
      assert.ok(helps.has(family) || helps.has(s.name.replace(/_(bucket|sum|count)$/, '')), `no # HELP for ${s.name}`);
    }
  }

  /** The one sample named `name` whose labels include `labels`; fails when there is none. */
  value(name: string, labels: Record<string, string> = {}): number {
    const found = this.find(name, labels);
    assert.ok(found, `no sample ${name}${JSON.stringify(labels)}`);
    return found.value;
  }

  /** The sample, or undefined. */
  find(name: string, labels: Record<string, string> = {}): Sample | undefined {
    return this.samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  }

  /** The sum over every sample named `name` whose labels include `labels` (0 when none). */
  sum(name: string, labels: Record<string, string> = {}): number {
    return this.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((a, s) => a + s.value, 0);
  }

  /** Every value of label `label` among the samples named `name`. */
  labelValues(name: string, label: string): Set<string> {
    return new Set(this.samples.filter((s) => s.name === name && s.labels[label] !== undefined).map((s) => s.labels[label]!));
  }
}
