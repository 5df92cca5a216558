/**
 * Trends and reports over the history of validations. The history is a plain JSON array of
 * QualityRecord the caller persists where it likes; these functions only read it.
 */
import { describe, isPlainObject } from '../validate.js';
import { round } from './text.js';
import type { QualityRecord, QualityResult, QualityReport, QualityTrends, TrendPoint } from './types.js';

const DAY_MS = 86_400_000;
/** A change of the mean score by this much from the first half of a window to the second is a trend. */
export const TREND_THRESHOLD = 0.05;
/** A record at or above this score counts as passing in reports. */
export const DEFAULT_PASS_SCORE = 0.7;
/** The window of a report's trend. */
export const REPORT_TREND_DAYS = 30;

export function recordOf(result: QualityResult): QualityRecord {
  const stages: Record<string, number | null> = {};
  for (const s of result.stages) stages[s.name] = s.score === null ? null : round(s.score, 6);
  const issueCodes: Record<string, number> = {};
  let errors = 0;
  let warnings = 0;
  for (const i of result.issues) {
    issueCodes[i.code] = (issueCodes[i.code] ?? 0) + 1;
    if (i.severity === 'error') errors++;
    else if (i.severity === 'warning') warnings++;
  }
  return { taskId: result.taskId, projectId: result.projectId, at: result.finishedAt, score: round(result.score, 6), stagesRun: result.stagesRun, stages, errors, warnings, issueCodes };
}

/** Problems that keep `history` from being read as records, each with its path. */
export function historyProblems(history: unknown): string[] {
  if (!Array.isArray(history)) return [`history: must be an array of quality records, got ${describe(history)}`];
  const problems: string[] = [];
  history.forEach((r, i) => {
    const p = `history[${i}]`;
    if (!isPlainObject(r)) return problems.push(`${p}: must be an object, got ${describe(r)}`);
    for (const key of ['taskId', 'projectId'] as const) if (typeof r[key] !== 'string') problems.push(`${p}.${key}: must be a string, got ${describe(r[key])}`);
    if (typeof r.at !== 'number' || !Number.isFinite(r.at)) problems.push(`${p}.at: must be epoch milliseconds, got ${describe(r.at)}`);
    if (typeof r.score !== 'number' || !(r.score >= 0 && r.score <= 1)) problems.push(`${p}.score: must be a number from 0 to 1, got ${describe(r.score)}`);
    if (!isPlainObject(r.stages)) problems.push(`${p}.stages: must be an object, got ${describe(r.stages)}`);
    if (r.issueCodes !== undefined && !isPlainObject(r.issueCodes)) problems.push(`${p}.issueCodes: must be an object, got ${describe(r.issueCodes)}`);
    return undefined;
  });
  return problems;
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** The project's records of the last `days` days up to `now`: daily points, stage means, and the direction. */
export function qualityTrends(history: readonly QualityRecord[], projectId: string, days: number, now: number): QualityTrends {
  const from = now - days * DAY_MS;
  const records = history.filter((r) => r.projectId === projectId && r.at >= from && r.at <= now).sort((a, b) => a.at - b.at);
  const byDay = new Map<string, number[]>();
  for (const r of records) {
    const day = new Date(r.at).toISOString().slice(0, 10);
    byDay.set(day, [...(byDay.get(day) ?? []), r.score]);
  }
  const points: TrendPoint[] = [...byDay.entries()].map(([day, scores]) => ({
    day,
    count: scores.length,
    mean: round(mean(scores)),
    min: Math.min(...scores),
    max: Math.max(...scores),
  }));
  let direction: QualityTrends['direction'] = 'insufficient-data';
  let delta = 0;
  if (records.length >= 2) {
    // Halves by count, not by time: a burst of runs on one day still shows which way it went.
    const half = Math.floor(records.length / 2);
    delta = round(mean(records.slice(records.length - half).map((r) => r.score)) - mean(records.slice(0, half).map((r) => r.score)));
    direction = delta >= TREND_THRESHOLD ? 'improving' : delta <= -TREND_THRESHOLD ? 'declining' : 'stable';
  }
  return { projectId, days, from, to: now, count: records.length, points, stages: stageMeans(records), direction, delta };
}

function stageMeans(records: readonly QualityRecord[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, s] of Object.entries(stageStats(records))) if (s.runs) out[name] = s.mean;
  return out;
}

function stageStats(records: readonly QualityRecord[]): Record<string, { mean: number; runs: number; skipped: number }> {
  const acc = new Map<string, { sum: number; runs: number; skipped: number }>();
  for (const r of records) {
    for (const [name, score] of Object.entries(r.stages)) {
      const a = acc.get(name) ?? { sum: 0, runs: 0, skipped: 0 };
      if (typeof score === 'number') {
        a.sum += score;
        a.runs++;
      } else a.skipped++;
      acc.set(name, a);
    }
  }
  const out: Record<string, { mean: number; runs: number; skipped: number }> = {};
  for (const [name, a] of [...acc.entries()].sort(([x], [y]) => x.localeCompare(y))) out[name] = { mean: a.runs ? round(a.sum / a.runs) : 0, runs: a.runs, skipped: a.skipped };
  return out;
}

export function qualityReport(history: readonly QualityRecord[], projectId: string, now: number, passScore = DEFAULT_PASS_SCORE): QualityReport {
  const records = history.filter((r) => r.projectId === projectId).sort((a, b) => a.at - b.at);
  const codes = new Map<string, number>();
  for (const r of records) for (const [code, n] of Object.entries(r.issueCodes ?? {})) codes.set(code, (codes.get(code) ?? 0) + n);
  const topIssues = [...codes.entries()].map(([code, count]) => ({ code, count })).sort((a, b) => b.count - a.count || a.code.localeCompare(b.code)).slice(0, 10);
  const worst = [...records].sort((a, b) => a.score - b.score || a.at - b.at).slice(0, 5).map((r) => ({ taskId: r.taskId, score: r.score, at: r.at }));
  const scores = records.map((r) => r.score);
  const report: QualityReport = {
    projectId,
    generatedAt: now,
    count: records.length,
    meanScore: scores.length ? round(mean(scores)) : null,
    latestScore: scores.length ? scores[scores.length - 1]! : null,
    passRate: scores.length ? round(scores.filter((s) => s >= passScore).length / scores.length) : null,
    passScore,
    stages: stageStats(records),
    topIssues,
    worst,
    trend: qualityTrends(history, projectId, REPORT_TREND_DAYS, now),
    text: '',
  };
  report.text = reportText(report);
  return report;
}

function reportText(r: QualityReport): string {
  if (r.count === 0) return `Quality report for ${r.projectId}: no validations recorded.`;
  const pct = (x: number) => `${Math.round(x * 100)}%`;
  const lines = [
    `Quality report for ${r.projectId} (${r.count} validation${r.count === 1 ? '' : 's'})`,
    `Mean score ${r.meanScore}, latest ${r.latestScore}; ${pct(r.passRate!)} scored ${r.passScore} or more.`,
    `Last ${r.trend.days} days: ${r.trend.direction}${r.trend.direction === 'insufficient-data' ? '' : ` (${r.trend.delta >= 0 ? '+' : ''}${r.trend.delta})`}.`,
    'Stages:',
    ...Object.entries(r.stages).map(([name, s]) => `  ${name}: mean ${s.mean} over ${s.runs} run${s.runs === 1 ? '' : 's'}${s.skipped ? `, skipped ${s.skipped}×` : ''}`),
  ];
  if (r.topIssues.length) lines.push('Most frequent issues:', ...r.topIssues.map((i) => `  ${i.code}: ${i.count}`));
  if (r.worst.length) lines.push('Lowest scores:', ...r.worst.map((w) => `  ${w.taskId}: ${w.score} (${new Date(w.at).toISOString()})`));
  return lines.join('\n');
}
