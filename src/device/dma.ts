// DMA of an emulated device: the engine translates and moves the bytes piece by piece
// through its staging buffer (pieces as the trace spec describes).

import type { EngineExports } from '../engine.js';
import * as A from '../arch/abi.js';

/** Largest length handed to dma_run at once (a u32; any length above a staging buffer's worth acts the same). */
const DMA_LEN_CAP = 2 ** 31;

/** Moves `bytes` to ('write') or from IOVA `iova` of device `sid`; the engine counts failed bytes (dma_failed). */
export function dmaRun(e: EngineExports, sid: number, iova: bigint, write: boolean, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) {
    // the engine sees the remaining length (piece sizes depend on it) and moves at most a
    // buffer's worth per call; a u32 cannot hold every length (2^32 would read as 0), and
    // beyond a buffer's worth the length changes nothing, so it is capped
    const left = Math.min(bytes.length - done, DMA_LEN_CAP);
    const a = BigInt.asUintN(64, iova + BigInt(done));
    const bufPtr = e.dma_buf_ptr();
    if (write) new Uint8Array(e.memory.buffer, bufPtr, Math.min(left, A.DMA_BUF_BYTES)).set(bytes.subarray(done, done + Math.min(left, A.DMA_BUF_BYTES)));
    const n = e.dma_run(sid, Number(a & 0xffffffffn), Number(a >> 32n), left, write ? 1 : 0);
    if (n === 0 || n > left) throw new Error(`vsmmu: engine moved ${n} of ${left} DMA bytes (internal error)`);
    if (!write) bytes.set(new Uint8Array(e.memory.buffer, bufPtr, n), done);
    done += n;
  }
}
