// Output of `vsmmu bench`: the JSON object of the issue, and a Markdown report (the
// table the README shows, then translation, growth, size and the targets).

import { median, type BenchResult } from './index.js';
import { FULL_STREAM } from './streams.js';

/** The JSON object: the fields the issue names first, then details. */
export function toJson(r: BenchResult): Record<string, unknown> {
  return {
    streams: r.streams.map((s) => ({
      name: s.name,
      commands: s.commands,
      wasm_mcmd_s: round(s.wasm_mcmd_s),
      ts_mcmd_s: round(s.ts_mcmd_s),
      qemu_mcmd_s: s.qemu_mcmd_s === null ? null : round(s.qemu_mcmd_s),
      memcpy_mcmd_s: round(s.memcpy_mcmd_s),
      note: s.note,
      qemu_rtt_us: s.qemu_rtt_us === null ? null : round(s.qemu_rtt_us),
      ...(s.forwarded ? { forwarded: s.forwarded } : {}),
      ...(s.excluding_backends ? { excluding_backends: { wasm_mcmd_s: round(s.excluding_backends.wasm_mcmd_s), ts_mcmd_s: round(s.excluding_backends.ts_mcmd_s) } } : {}),
      ...(s.dispatcher_share !== undefined ? { dispatcher_share: Math.round(s.dispatcher_share * 1e4) / 1e4 } : {}),
      samples: {
        wasm: s.samples.wasm.map(round),
        ts: s.samples.ts.map(round),
        qemu: s.samples.qemu ? s.samples.qemu.map(round) : null,
        memcpy: s.samples.memcpy.map(round),
      },
    })),
    translate: {
      hit_batch_m_s: round(r.translate.hit_batch_m_s),
      hit_single_m_s: round(r.translate.hit_single_m_s),
      miss_m_s: round(r.translate.miss_m_s),
      dma_4k_m_s: round(r.translate.dma_4k_m_s),
      counts: r.translate.counts,
    },
    growth_bytes: r.growth_bytes,
    wasm_bytes: r.wasm_bytes,
    machine: r.machine,
    growth: { commands: r.growth.commands, translations: r.growth.translations, heap_bytes: r.growth.heapBytes, wasm_bytes: r.growth.wasmBytes, growth_bytes: r.growth.growthBytes, attempts: r.growth.attempts },
    state: r.state,
    memcpy: r.memcpy,
    targets: r.targets,
  };
}

function round(v: number): number {
  return Math.round(v * 100) / 100;
}

function num(v: number): string {
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

function machineLine(r: BenchResult): string {
  const m = r.machine;
  return `${m.date.slice(0, 10)}, ${m.cpu} (${m.cores} cores, ${m.memory_gib} GiB), ${m.os}, Node ${m.node}, ${m.qemu ?? 'QEMU not installed'}`;
}

/** The Markdown table of command streams (what the README shows). */
export function streamTable(r: BenchResult): string {
  const lines = [
    '| stream (Mcmd/s) | wasm | TS ref | QEMU 7.2 | memcpy | wasm/QEMU | wasm/memcpy | wasm/TS |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const s of r.streams) {
    const q = s.qemu_mcmd_s;
    lines.push(`| ${s.name} | ${num(s.wasm_mcmd_s)} | ${num(s.ts_mcmd_s)} | ${q === null ? '-' : num(q)} | ${num(s.memcpy_mcmd_s)} | ` +
      `${q === null ? '-' : (s.wasm_mcmd_s / q).toFixed(1) + 'x'} | ${((100 * s.wasm_mcmd_s) / s.memcpy_mcmd_s).toFixed(0)}% | ${(s.wasm_mcmd_s / s.ts_mcmd_s).toFixed(1)}x |`);
  }
  return lines.join('\n');
}

export function translateTable(r: BenchResult): string {
  const t = r.translate;
  return [
    '| translation (M/s) | IOTLB hit, batch API | IOTLB hit, translate() | 4-level walk (miss) | dma() 4 KiB pages |',
    '|---|---:|---:|---:|---:|',
    `| wasm engine | ${num(t.hit_batch_m_s)} | ${num(t.hit_single_m_s)} | ${num(t.miss_m_s)} | ${num(t.dma_4k_m_s)} (${(t.dma_4k_m_s * 4096 / 1e3).toFixed(1)} GB/s) |`,
  ].join('\n');
}

/** The README section: tables, machine and date, conditions. */
export function readmeSection(r: BenchResult): string {
  const n = r.streams[0]?.commands ?? 0;
  return [
    `Measured with \`npm run bench\` on ${machineLine(r)}.`,
    '',
    streamTable(r),
    '',
    translateTable(r),
    '',
    `Streams of ${n} commands${n === FULL_STREAM ? ' (a full 2^19-entry queue in guest RAM)' : ' in a 2^19-entry queue in guest RAM'}; medians of ${span(r, 'ts')} runs ` +
      `(QEMU ${span(r, 'qemu')}, engine ${span(r, 'wasm')}, memcpy ${span(r, 'memcpy')}), ratios within the same run. State: ${r.state}. ` +
      `QEMU: one PROD write over qtest until the reply of the CONS read after it, minus the mean qtest round trip. ` +
      `memcpy: ${r.memcpy}. Memory growth over ${r.growth.commands} commands and ${r.growth.translations} translations: ` +
      `${r.growth_bytes} bytes (JS heap ${r.growth.heapBytes}, wasm ${r.growth.wasmBytes}). Release \`.wasm\`: ${r.wasm_bytes} bytes.`,
  ].join('\n');
}

/** min / median / max of one implementation's samples. */
function spread(xs: number[], label: string): string {
  if (xs.length === 0) return `${label} -`;
  return `${label} ${num(Math.min(...xs))} / ${num(median(xs))} / ${num(Math.max(...xs))}`;
}

function span(r: BenchResult, k: 'wasm' | 'ts' | 'qemu' | 'memcpy'): string {
  const ns = r.streams.map((s) => s.samples[k]?.length ?? 0).filter((x) => x > 0);
  if (ns.length === 0) return '0';
  const lo = Math.min(...ns), hi = Math.max(...ns);
  return lo === hi ? `${lo}` : `${lo}-${hi}`;
}

export function toText(r: BenchResult): string {
  const out = [readmeSection(r), '', 'Streams:'];
  for (const s of r.streams) {
    out.push(`- ${s.name}: ${s.note}`);
    out.push(`  spread (min / median / max Mcmd/s): ${spread(s.samples.wasm, 'wasm')}; ${spread(s.samples.ts, 'TS')}` +
      `${s.samples.qemu ? '; ' + spread(s.samples.qemu, 'QEMU') : ''}; ${spread(s.samples.memcpy, 'memcpy')}`);
    if (s.forwarded && s.excluding_backends) {
      out.push(`  entries sent to the simulated pSMMUs per run: ${s.forwarded.wasm}; without the time spent inside them: ` +
        `wasm ${num(s.excluding_backends.wasm_mcmd_s)} Mcmd/s, TS ${num(s.excluding_backends.ts_mcmd_s)} Mcmd/s` +
        (s.dispatcher_share !== undefined ? `; dispatcher share ${(100 * s.dispatcher_share).toFixed(1)}%` : ''));
    } else if (s.forwarded) {
      out.push(`  entries sent to the pSMMUs per run: ${s.forwarded.wasm}`);
    }
  }
  out.push('', 'Targets:');
  for (const t of r.targets) out.push(`- [${t.met ? 'x' : ' '}] ${t.target}: ${t.value}`);
  const missed = r.targets.filter((t) => !t.met).length;
  out.push('', missed ? `${missed} target(s) missed` : 'all targets met');
  return out.join('\n') + '\n';
}
