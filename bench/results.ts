// The benchmarks' results as data: every figure a scenario measures, with its unit and which way is
// better, kept as JSON (bench-results.json beside bench-results.md, and docs/bench/results.json,
// which the charts are drawn from). Scenarios record figures through bench/lib.ts (figure, samples).

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';

export const SCHEMA = 1;

export type Unit = 'ms' | 'KiB' | 'MiB' | 'per_s' | 'percent' | 'count' | 'x';

export interface Figure {
  /** Unique within its scenario, stable across runs (what --compare matches on), e.g. `push.p50`, `n=100.pdsh`. */
  id: string;
  /** What it is, for a person: `myx push via the API, p50`. */
  what: string;
  /** null: not measured to the end (`note` says why). */
  value: number | null;
  unit: Unit;
  /** Which way is better, or null when neither (a count of what was sent). */
  better: 'lower' | 'higher' | null;
  /** What the charts select on: `{ tool: 'pdsh', n: 100 }`. */
  params?: Record<string, string | number>;
  note?: string;
}

export interface ScenarioResult {
  /** When this scenario was measured (ISO-8601), and where. */
  measured_at: string;
  machine: Machine;
  figures: Figure[];
  /** Raw samples of a distribution (the round trip's latencies), by name, in `unit`. */
  samples?: Record<string, { unit: Unit; values: number[] }>;
}

export interface Machine {
  cpus: number;
  cpu_model: string;
  memory_gib: number;
  node: string;
  /** Anything a person should know about this run (other load on the machine, say). */
  note?: string;
}

/** Scenarios by name; each says when and where it was measured (docs/bench/results.json gathers several runs). */
export interface BenchResults {
  schema: typeof SCHEMA;
  scenarios: Record<string, ScenarioResult>;
}

export function thisMachine(): Machine {
  const c = cpus();
  return { cpus: c.length, cpu_model: c[0]?.model.trim() ?? 'unknown', memory_gib: Math.round(totalmem() / 2 ** 30), node: process.version };
}

export function loadResults(path: string): BenchResults {
  if (!existsSync(path)) throw new Error(`no results file at ${path}`);
  const data = JSON.parse(readFileSync(path, 'utf8')) as BenchResults;
  if (data.schema !== SCHEMA || typeof data.scenarios !== 'object') throw new Error(`${path} is not a bench results file (schema ${SCHEMA})`);
  return data;
}

export function saveResults(path: string, results: BenchResults): void {
  writeFileSync(path, JSON.stringify(results, null, 1) + '\n');
}

/** `base` with the scenarios of `run` replacing its own (a run of one scenario updates that one only). */
export function mergeResults(base: BenchResults | null, run: BenchResults): BenchResults {
  return { schema: SCHEMA, scenarios: { ...(base?.scenarios ?? {}), ...run.scenarios } };
}

/** A figure's value as a person reads it: `6.0 ms`, `1.51 s`, `309 MiB`, `662/s`, `5.2x`. */
export function formatValue(value: number | null, unit: Unit): string {
  if (value === null) return 'did not finish';
  switch (unit) {
    case 'ms': return value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${value.toFixed(value < 10 ? 1 : 0)} ms`;
    case 'KiB': return `${value.toFixed(0)} KiB`;
    case 'MiB': return value >= 1024 ? `${(value / 1024).toFixed(2)} GiB` : `${value.toFixed(0)} MiB`;
    case 'per_s': return `${value.toFixed(0)}/s`;
    case 'percent': return `${value.toFixed(value < 1 ? 2 : 0)} %`;
    case 'count': return value.toLocaleString('en-US');
    case 'x': return `${value.toFixed(1)}x`;
    default: {
      const _exhaustive: never = unit;
      return String(_exhaustive);
    }
  }
}
