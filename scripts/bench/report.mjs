// Turns the measured rows into the printed table (speed: best, median in brackets; ratio = haos-rescue
// best ÷ other tool best, above 1 means haos-rescue is faster) and into the --json document.

import { cpus, totalmem } from 'node:os';
import { HAS_GNU_TIME, mbps, perSec, round, shortCmdVersion } from './util.mjs';

export function machineInfo() {
  const cpu = cpus();
  return {
    date: new Date().toISOString(),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    cpus: cpu.length,
    cpuModel: cpu[0]?.model?.trim() ?? 'unknown',
    memGiB: round(totalmem() / 1024 ** 3, 1),
    debugfs: shortCmdVersion('debugfs', ['-V']),
    mkfs: shortCmdVersion('mkfs.ext4', ['-V']),
    rssSource: HAS_GNU_TIME ? '/usr/bin/time -f %M' : 'child process.resourceUsage().maxRSS (haos-rescue only)',
  };
}

function speed(row, m) {
  if (!m) return null;
  const f = row.unit === 'MB/s' ? mbps : perSec;
  return { best: round(f(row.amount, m.bestMs), 1), median: round(f(row.amount, m.medianMs), 1) };
}

/** One row of numbers for JSON and the table. */
export function summarize(row) {
  const tools = { haosRescue: row.hr, debugfs: row.debugfs, cat: row.cat };
  const out = { id: row.id, work: row.work, unit: row.unit, amount: row.amount };
  for (const [name, m] of Object.entries(tools)) {
    out[name] = m && { ...speed(row, m), bestMs: round(m.bestMs, 1), medianMs: round(m.medianMs, 1), runsMs: m.runsMs, peakRssKb: m.rssKb };
  }
  out.ratioVsDebugfs = out.debugfs ? round(out.haosRescue.best / out.debugfs.best, 2) : null;
  out.ratioVsCat = out.cat ? round(out.haosRescue.best / out.cat.best, 2) : null;
  return out;
}

function cell(s) {
  return s ? `${fmtNum(s.best)} (${fmtNum(s.median)})` : '—';
}

function fmtNum(x) {
  return x >= 100 ? String(Math.round(x)) : x.toFixed(1);
}

function ratioCell(s) {
  const parts = [];
  if (s.ratioVsDebugfs != null) parts.push(`${s.ratioVsDebugfs.toFixed(2)}× debugfs`);
  if (s.ratioVsCat != null) parts.push(`${s.ratioVsCat.toFixed(2)}× cat/cp`);
  return parts.join(', ') || '—';
}

function rssCell(m) {
  return m?.peakRssKb != null ? `${round(m.peakRssKb / 1024, 1)} MB` : '—';
}

/** Markdown table: speeds first, then peak RSS of each row that ran child processes. */
export function table(summaries) {
  const lines = [
    '| work | haos-rescue | debugfs | cat / cp | ratio |',
    '|---|---|---|---|---|',
  ];
  for (const s of summaries) {
    const ms = s.id === 'journal-replay' ? ` in ${fmtNum(s.haosRescue.bestMs)} ms` : '';
    lines.push(`| ${s.work}, ${s.unit} | ${cell(s.haosRescue)}${ms} | ${cell(s.debugfs)} | ${cell(s.cat)} | ${ratioCell(s)} |`);
  }
  for (const s of summaries) {
    if (s.haosRescue.peakRssKb == null) continue;
    lines.push(`| peak RSS: ${s.work} | ${rssCell(s.haosRescue)} | ${rssCell(s.debugfs)} | ${rssCell(s.cat)} | |`);
  }
  return lines.join('\n');
}

export function machineText(m) {
  return [
    `date: ${m.date}`,
    `node ${m.node} on ${m.platform}, ${m.cpus} × ${m.cpuModel}, ${m.memGiB} GiB RAM`,
    `${m.debugfs}; ${m.mkfs}`,
    `peak RSS from: ${m.rssSource}`,
    'speeds: best of N runs (median in brackets); ratio = haos-rescue best / other best (>1: haos-rescue faster)',
  ].join('\n');
}
