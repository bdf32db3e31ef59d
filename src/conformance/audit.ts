// Safety audit of a scenario: the addresses the SMMU touches for it (STEs, level-1
// descriptors, CDs, page-table entries, DMA targets), read off our model's trace lines.
// All of them must be guest RAM away from QEMU's boot data, or unassigned memory; a
// scenario that reaches flash, devices or the boot data would compare QEMU's machine
// with the model's empty memory, not the two SMMUs. The queues are kept safe by the
// generator itself (World.ensureSafeQueues).

import { ARENAS } from './builder.js';

const PATTERNS: Array<[RegExp, string]> = [
  [/^smmuv3_get_ste STE addr: (0x[0-9a-f]+)/, 'STE'],
  [/^smmuv3_find_ste_2lvl .* l1ptr:(0x[0-9a-f]+)/, 'L1 descriptor'],
  [/^smmuv3_get_cd CD addr: (0x[0-9a-f]+)/, 'CD'],
  [/^smmu_get_pte .*pteaddr=(0x[0-9a-f]+)/, 'page-table entry'],
  [/^smmuv3_translate_success .* translated=(0x[0-9a-f]+)/, 'DMA target'],
  [/^smmuv3_translate_(?:bypass|disable) .* iova:(0x[0-9a-f]+)/, 'DMA target (bypass)'],
];

/** Whether guest physical address `pa` is scenario RAM or unassigned memory. */
export function safePhys(pa: bigint): boolean {
  if (pa >= 1n << 48n) return true;
  for (const a of ARENAS) if (pa >= BigInt(a.base) && pa < BigInt(a.end)) return true;
  return pa >= BigInt(ARENAS[ARENAS.length - 1].end);
}

/**
 * The accesses of a trace log (the model's, or QEMU's own `-trace 'smmu*'` log) that leave
 * safe memory ("kind address: trace line"). With `cdIpa` (an SMMU with nesting) the CD
 * addresses are not audited: there they are IPAs, and the reads they cause show as the
 * stage-2 walk's descriptor and output addresses instead.
 */
export function unsafeAccesses(lines: readonly string[], opts: { cdIpa?: boolean } = {}): string[] {
  const out: string[] = [];
  for (const l of lines) {
    for (const [re, kind] of PATTERNS) {
      if (opts.cdIpa && kind === 'CD') continue;
      const m = re.exec(l);
      if (m && !safePhys(BigInt(m[1]))) out.push(`${kind} at ${m[1]}: ${l}`);
    }
  }
  return out;
}
