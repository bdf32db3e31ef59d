// Formats the engine's trace records as QEMU 7.2 prints its trace events
// (hw/arm/trace-events), one line each: "<event name> <message>".

import * as T from './arch/trace-events.js';
import * as C from './arch/commands.js';
import * as E from './arch/events.js';
import * as R from './arch/registers.js';

const CMD_NAMES: Record<number, string> = {
  [C.CMD_PREFETCH_CONFIG]: 'SMMU_CMD_PREFETCH_CONFIG',
  [C.CMD_PREFETCH_ADDR]: 'SMMU_CMD_PREFETCH_ADDR',
  [C.CMD_CFGI_STE]: 'SMMU_CMD_CFGI_STE',
  [C.CMD_CFGI_STE_RANGE]: 'SMMU_CMD_CFGI_STE_RANGE',
  [C.CMD_CFGI_CD]: 'SMMU_CMD_CFGI_CD',
  [C.CMD_CFGI_CD_ALL]: 'SMMU_CMD_CFGI_CD_ALL',
  [C.CMD_CFGI_ALL]: 'SMMU_CMD_CFGI_ALL',
  [C.CMD_TLBI_NH_ALL]: 'SMMU_CMD_TLBI_NH_ALL',
  [C.CMD_TLBI_NH_ASID]: 'SMMU_CMD_TLBI_NH_ASID',
  [C.CMD_TLBI_NH_VA]: 'SMMU_CMD_TLBI_NH_VA',
  [C.CMD_TLBI_NH_VAA]: 'SMMU_CMD_TLBI_NH_VAA',
  [C.CMD_TLBI_EL3_ALL]: 'SMMU_CMD_TLBI_EL3_ALL',
  [C.CMD_TLBI_EL3_VA]: 'SMMU_CMD_TLBI_EL3_VA',
  [C.CMD_TLBI_EL2_ALL]: 'SMMU_CMD_TLBI_EL2_ALL',
  [C.CMD_TLBI_EL2_ASID]: 'SMMU_CMD_TLBI_EL2_ASID',
  [C.CMD_TLBI_EL2_VA]: 'SMMU_CMD_TLBI_EL2_VA',
  [C.CMD_TLBI_EL2_VAA]: 'SMMU_CMD_TLBI_EL2_VAA',
  [C.CMD_TLBI_S12_VMALL]: 'SMMU_CMD_TLBI_S12_VMALL',
  [C.CMD_TLBI_S2_IPA]: 'SMMU_CMD_TLBI_S2_IPA',
  [C.CMD_TLBI_NSNH_ALL]: 'SMMU_CMD_TLBI_NSNH_ALL',
  [C.CMD_ATC_INV]: 'SMMU_CMD_ATC_INV',
  [C.CMD_PRI_RESP]: 'SMMU_CMD_PRI_RESP',
  [C.CMD_RESUME]: 'SMMU_CMD_RESUME',
  [C.CMD_STALL_TERM]: 'SMMU_CMD_STALL_TERM',
  [C.CMD_SYNC]: 'SMMU_CMD_SYNC',
};

/** QEMU smmu_cmd_string. */
export function commandName(type: number): string {
  if (type > 0 && type <= C.CMD_SYNC) return CMD_NAMES[type] ?? 'UNKNOWN';
  return 'INVALID';
}

const EVT_NAMES: Record<number, string> = {
  [E.EVT_NONE]: 'no recorded event',
  [E.EVT_F_UUT]: 'SMMU_EVT_F_UUT',
  [E.EVT_C_BAD_STREAMID]: 'SMMU_EVT_C_BAD_STREAMID',
  [E.EVT_F_STE_FETCH]: 'SMMU_EVT_F_STE_FETCH',
  [E.EVT_C_BAD_STE]: 'SMMU_EVT_C_BAD_STE',
  [E.EVT_F_BAD_ATS_TREQ]: 'SMMU_EVT_F_BAD_ATS_TREQ',
  [E.EVT_F_STREAM_DISABLED]: 'SMMU_EVT_F_STREAM_DISABLED',
  [E.EVT_F_TRANSL_FORBIDDEN]: 'SMMU_EVT_F_TRANS_FORBIDDEN',
  [E.EVT_C_BAD_SUBSTREAMID]: 'SMMU_EVT_C_BAD_SUBSTREAMID',
  [E.EVT_F_CD_FETCH]: 'SMMU_EVT_F_CD_FETCH',
  [E.EVT_C_BAD_CD]: 'SMMU_EVT_C_BAD_CD',
  [E.EVT_F_WALK_EABT]: 'SMMU_EVT_F_WALK_EABT',
  [E.EVT_F_TRANSLATION]: 'SMMU_EVT_F_TRANSLATION',
  [E.EVT_F_ADDR_SIZE]: 'SMMU_EVT_F_ADDR_SIZE',
  [E.EVT_F_ACCESS]: 'SMMU_EVT_F_ACCESS',
  [E.EVT_F_PERMISSION]: 'SMMU_EVT_F_PERMISSION',
  [E.EVT_F_TLB_CONFLICT]: 'SMMU_EVT_F_TLB_CONFLICT',
  [E.EVT_F_CFG_CONFLICT]: 'SMMU_EVT_F_CFG_CONFLICT',
  [E.EVT_E_PAGE_REQUEST]: 'SMMU_EVT_E_PAGE_REQ',
};

/** QEMU smmu_event_string. */
export function eventName(type: number): string {
  if (type <= E.EVT_E_PAGE_REQUEST) return EVT_NAMES[type] ?? 'UNKNOWN';
  return 'INVALID';
}

const CERROR_NAMES: Record<number, string> = {
  [R.CERROR_NONE]: 'CERROR_NONE', [R.CERROR_ILL]: 'CERROR_ILL', [R.CERROR_ABT]: 'CERROR_ABT', [R.CERROR_ATC_INV_SYNC]: 'CERROR_ATC_INV_SYNC',
};

/** The name of a CMDQ_CONS.ERR code (IHI 0070 7.1), e.g. CERROR_ILL; unknown codes as a number. */
export function cerrorName(code: number): string {
  return CERROR_NAMES[code] ?? `CERROR_${code}`;
}

const x = (v: bigint) => '0x' + v.toString(16);
const d = (v: bigint) => BigInt.asIntN(32, v).toString();
const u = (v: bigint) => BigInt.asUintN(32, v).toString();

/** Name of the IOMMU memory region QEMU gives a device: "smmuv3-iommu-memory-region-<devfn>-<n>". */
export type RegionName = (sid: number) => string;

type Fmt = (a: bigint[], name: RegionName) => string;

const FORMATS: Record<number, [string, Fmt]> = {
  [T.T_TRIGGER_IRQ]: ['smmuv3_trigger_irq', (a) => `irq=${d(a[0])}`],
  [T.T_WRITE_GERROR]: ['smmuv3_write_gerror', (a) => `toggled=${x(a[0])}, new GERROR=${x(a[1])}`],
  [T.T_WRITE_GERRORN]: ['smmuv3_write_gerrorn', (a) => `acked=${x(a[0])}, new GERRORN=${x(a[1])}`],
  [T.T_UNHANDLED_CMD]: ['smmuv3_unhandled_cmd', (a) => `Unhandled command type=${d(a[0])}`],
  [T.T_CMDQ_CONSUME]: ['smmuv3_cmdq_consume', (a) => `prod=${d(a[0])} cons=${d(a[1])} prod.wrap=${d(a[2])} cons.wrap=${d(a[3])}`],
  [T.T_CMDQ_OPCODE]: ['smmuv3_cmdq_opcode', (a) => `<--- ${commandName(Number(a[0]))}`],
  [T.T_CMDQ_CONSUME_OUT]: ['smmuv3_cmdq_consume_out', (a) => `prod:${d(a[0])}, cons:${d(a[1])}, prod_wrap:${d(a[2])}, cons_wrap:${d(a[3])} `],
  [T.T_CMDQ_CONSUME_ERROR]: ['smmuv3_cmdq_consume_error', (a) => `Error on ${commandName(Number(a[0]))} command execution: ${d(a[1])}`],
  [T.T_RECORD_EVENT]: ['smmuv3_record_event', (a) => `${eventName(Number(a[0]))} sid=${x(a[1])}`],
  [T.T_FIND_STE]: ['smmuv3_find_ste', (a) => `sid=${x(a[0] & 0xffffn)} features:${x(a[1])}, sid_split:${x(a[2])}`],
  [T.T_FIND_STE_2LVL]: ['smmuv3_find_ste_2lvl', (a) => `strtab_base:${x(a[0])} l1ptr:${x(a[1])} l1_off:${x(a[2])}, l2ptr:${x(a[3])} l2_off:${x(a[4])} max_l2_ste:${d(a[5])}`],
  [T.T_GET_STE]: ['smmuv3_get_ste', (a) => `STE addr: ${x(a[0])}`],
  [T.T_TRANSLATE_DISABLE]: ['smmuv3_translate_disable', (a, n) => `${n(Number(a[0]))} sid=${x(a[0])} bypass (smmu disabled) iova:${x(a[1])} is_write=${a[2] !== 0n ? 1 : 0}`],
  [T.T_TRANSLATE_BYPASS]: ['smmuv3_translate_bypass', (a, n) => `${n(Number(a[0]))} sid=${x(a[0])} STE bypass iova:${x(a[1])} is_write=${a[2] !== 0n ? 1 : 0}`],
  [T.T_TRANSLATE_ABORT]: ['smmuv3_translate_abort', (a, n) => `${n(Number(a[0]))} sid=${x(a[0])} abort on iova:${x(a[1])} is_write=${a[2] !== 0n ? 1 : 0}`],
  [T.T_TRANSLATE_SUCCESS]: ['smmuv3_translate_success', (a, n) => `${n(Number(a[0]))} sid=${x(a[0])} iova=${x(a[1])} translated=${x(a[2])} perm=${x(a[3])}`],
  [T.T_GET_CD]: ['smmuv3_get_cd', (a) => `CD addr: ${x(a[0])}`],
  [T.T_DECODE_CD]: ['smmuv3_decode_cd', (a) => `oas=${u(a[0])}`],
  [T.T_DECODE_CD_TT]: ['smmuv3_decode_cd_tt', (a) => `TT[${d(a[0])}]:tsz:${u(a[1])} ttb:${x(a[2])} granule_sz:${u(a[3])} had:${d(a[4])}`],
  [T.T_CMDQ_CFGI_STE]: ['smmuv3_cmdq_cfgi_ste', (a) => `streamid= ${x(a[0])}`],
  [T.T_CMDQ_CFGI_STE_RANGE]: ['smmuv3_cmdq_cfgi_ste_range', (a) => `start=${x(a[0])} - end=${x(a[1])}`],
  [T.T_CMDQ_CFGI_CD]: ['smmuv3_cmdq_cfgi_cd', (a) => `sid=${x(a[0])}`],
  [T.T_CONFIG_CACHE_HIT]: ['smmuv3_config_cache_hit', (a) => `Config cache HIT for sid=${x(a[0])} (hits=${u(a[1])}, misses=${u(a[2])}, hit rate=${u(a[3])})`],
  [T.T_CONFIG_CACHE_MISS]: ['smmuv3_config_cache_miss', (a) => `Config cache MISS for sid=${x(a[0])} (hits=${u(a[1])}, misses=${u(a[2])}, hit rate=${u(a[3])})`],
  [T.T_S1_RANGE_INVAL]: ['smmuv3_s1_range_inval', (a) => `vmid=${d(a[0])} asid=${d(a[1])} addr=${x(a[2])} tg=${d(a[3])} num_pages=${x(a[4])} ttl=${d(a[5])} leaf=${d(a[6])}`],
  [T.T_CMDQ_TLBI_NH]: ['smmuv3_cmdq_tlbi_nh', () => ''],
  [T.T_CMDQ_TLBI_NH_ASID]: ['smmuv3_cmdq_tlbi_nh_asid', (a) => `asid=${d(a[0])}`],
  [T.T_CONFIG_CACHE_INV]: ['smmuv3_config_cache_inv', (a) => `Config cache INV for sid=${x(a[0])}`],
  [T.T_PTW_LEVEL]: ['smmu_ptw_level', (a) => `level=${d(a[0])} iova=${x(a[1])} subpage_sz=${x(a[2])} baseaddr=${x(a[3])} offset=${d(a[4])} => pte=${x(a[5])}`],
  [T.T_PTW_INVALID_PTE]: ['smmu_ptw_invalid_pte', (a) => `stage=${d(a[0])} level=${d(a[1])} base@=${x(a[2])} pte@=${x(a[3])} offset=${d(a[4])} pte=${x(a[5])}`],
  [T.T_PTW_PAGE_PTE]: ['smmu_ptw_page_pte', (a) => `stage=${d(a[0])} level=${d(a[1])} iova=${x(a[2])} base@=${x(a[3])} pte@=${x(a[4])} pte=${x(a[5])} page address = ${x(a[6])}`],
  [T.T_PTW_BLOCK_PTE]: ['smmu_ptw_block_pte', (a) => `stage=${d(a[0])} level=${d(a[1])} base@=${x(a[2])} pte@=${x(a[3])} pte=${x(a[4])} iova=${x(a[5])} block address = ${x(a[6])} block size = ${d(a[7])} MiB`],
  [T.T_GET_PTE]: ['smmu_get_pte', (a) => `baseaddr=${x(a[0])} index=${x(a[1])}, pteaddr=${x(a[2])}, pte=${x(a[3])}`],
  [T.T_IOTLB_INV_ALL]: ['smmu_iotlb_inv_all', () => 'IOTLB invalidate all'],
  [T.T_IOTLB_INV_ASID]: ['smmu_iotlb_inv_asid', (a) => `IOTLB invalidate asid=${d(a[0])}`],
  [T.T_IOTLB_LOOKUP_HIT]: ['smmu_iotlb_lookup_hit', (a) => `IOTLB cache HIT asid=${d(a[0])} addr=${x(a[1])} hit=${d(a[2])} miss=${d(a[3])} hit rate=${d(a[4])}`],
  [T.T_IOTLB_LOOKUP_MISS]: ['smmu_iotlb_lookup_miss', (a) => `IOTLB cache MISS asid=${d(a[0])} addr=${x(a[1])} hit=${d(a[2])} miss=${d(a[3])} hit rate=${d(a[4])}`],
  [T.T_IOTLB_INSERT]: ['smmu_iotlb_insert', (a) => `IOTLB ++ asid=${d(a[0])} addr=${x(a[1])} tg=${d(a[2])} level=${d(a[3])}`],
  [T.T_FORWARD]: ['vsmmu_forward', (a) => `backend=${d(a[0])} kind=${a[1] === 1n ? 'ste' : 'inv'} psid=${x(a[2])} w0=${x(a[3])} w1=${x(a[4])}`],
  [T.T_VASID_LEARN]: ['vsmmu_vasid_learn', (a) => `backend=${d(a[0])} asid=${x(a[1])}`],
  [T.T_BACKEND_EVENT]: ['vsmmu_backend_event', (a) => `backend=${d(a[0])} psid=${x(a[1])} vsid=${BigInt.asIntN(64, a[2]) < 0n ? 'none' : x(a[2])}`],
};

/** One trace line, "name message", for record `id` with arguments `args`. */
export function formatTrace(id: number, args: bigint[], name: RegionName): string {
  const f = FORMATS[id];
  if (!f) return `vsmmu_unknown_trace id=${id}`;
  const msg = f[1](args, name);
  return msg === '' ? f[0] : `${f[0]} ${msg}`;
}

/** smmuv3_read_mmio / smmuv3_write_mmio lines (logged by the host, which sees the access). */
export function formatMmio(write: boolean, offset: number, value: bigint, size: number): string {
  return `${write ? 'smmuv3_write_mmio' : 'smmuv3_read_mmio'} addr: ${x(BigInt(offset))} val:${x(value)} size: 0x${size.toString(16)}(0)`;
}
