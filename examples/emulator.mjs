// Embedding vsmmu in an emulator: a minimal machine loop.
//
//   npm run build && node examples/emulator.mjs       (prints a JSON summary)
//
// The emulator owns guest RAM and the physical address map, puts the SMMU's registers
// at an MMIO window, wires its interrupt lines to an interrupt controller, and lets
// devices DMA through it. A guest-driver script (vsmmu's GuestDriver, which programs
// the SMMU the way Linux's arm-smmu-v3 does) runs as the "CPU", reaching the SMMU only
// through the machine's bus, one step of the loop at a time. A second device is a
// passthrough device behind a physical SMMU (here a SimulatedPsmmu): the vSMMU forwards
// the guest's STEs and invalidations to it (the vIOMMU path).
//
// In your own project: import { createSmmu, GuestDriver, encode, SimulatedPsmmu } from 'vsmmu'.

import { pathToFileURL } from 'node:url';
import { createSmmu, GuestDriver, SimulatedPsmmu, encode } from 'vsmmu';

// ---- the machine: QEMU virt's layout ------------------------------------------------
const RAM_BASE = 0x40000000;
const RAM_SIZE = 16 << 20;
const SMMU_BASE = 0x09050000; // virt: VIRT_SMMU, 0x20000 bytes
const SMMU_SIZE = 0x20000;
const DMA_BASE = 0x0a100000; // our toy DMA engine's registers
// virt wires the SMMU to four SPIs, in this order. QEMU 7.2's SMMU has no MSI
// (IDR0.MSI = 0, no *_IRQ_CFG0 doorbells), so wired lines are the only way it interrupts.
const SMMU_SPI = { eventq: 74, priq: 75, 'cmd-sync': 76, gerror: 77 };

/** An interrupt controller reduced to what the loop needs: pending SPIs. */
class Gic {
  pending = new Map();
  raise(spi, count = 1) { this.pending.set(spi, (this.pending.get(spi) ?? 0) + count); }
  take(spi) { const n = this.pending.get(spi) ?? 0; this.pending.delete(spi); return n; }
}

/** A DMA engine (emulated PCI device, StreamID `sid`): copies LEN bytes from SRC to DST IOVA. */
class DmaEngine {
  regs = { src: 0, dst: 0, len: 0, go: 0, status: 0 };
  constructor(smmu, sid) { this.smmu = smmu; this.sid = sid; }
  mmioWrite(off, v) { this.regs[['src', 'dst', 'len', 'go'][off / 8]] = Number(v); }
  mmioRead(off) { return off === 0x20 ? this.regs.status : 0; }
  /** One tick of the device: runs a pending transfer through the SMMU. */
  tick() {
    if (!this.regs.go) return;
    this.regs.go = 0;
    const buf = new Uint8Array(this.regs.len);
    const failedIn = this.smmu.dma(this.sid, this.regs.src, 'read', buf);
    const failedOut = failedIn ? 0 : this.smmu.dma(this.sid, this.regs.dst, 'write', buf);
    this.regs.status = failedIn || failedOut ? 2 : 1; // 1 done, 2 DMA fault
  }
}

export async function main() {
  const ram = new Uint8Array(RAM_SIZE); // the emulator's guest RAM
  const gic = new Gic();
  const inRam = (a, n) => a >= RAM_BASE && a + n <= RAM_BASE + RAM_SIZE;
  // Guest-memory callbacks: every table walk, queue access and DMA of the SMMU lands here.
  const memory = {
    read(addr, dst) {
      if (!inRam(addr, dst.length)) return false; // external abort
      dst.set(ram.subarray(addr - RAM_BASE, addr - RAM_BASE + dst.length));
      return true;
    },
    write(addr, src) {
      if (!inRam(addr, src.length)) return false;
      ram.set(src, addr - RAM_BASE);
      return true;
    },
  };
  // A physical SMMU for the passthrough device; its walks read the same guest RAM (identity stage 2).
  const psmmu = new SimulatedPsmmu({ name: 'host-smmu0', memory: memory.read });
  const smmu = await createSmmu({
    memory,
    irq: (line, count) => gic.raise(SMMU_SPI[line], count),
    devices: [0x08], // emulated: the DMA engine at 00:01.0
    viommu: {
      backends: [{ name: 'host-smmu0', vmid: 1, backend: psmmu.viommu(1) }],
      devices: [{ sid: 0x10, backend: 'host-smmu0', psid: 0x1200 }], // passthrough NIC: vSID 0x10 = pSID 0x1200
    },
    // For speed an emulator may instead give the model its RAM: ram: [{ base, size }], then use smmu.ram().
  });
  const dmaEngine = new DmaEngine(smmu, 0x08);

  // The CPU's view of the physical address space: what a load or store reaches.
  const bus = {
    mmioRead(off, size) { return smmu.mmioRead(off, size); },
    mmioWrite(off, size, v) { smmu.mmioWrite(off, size, v); },
    readMemory(addr, n) { const b = new Uint8Array(n); memory.read(addr, b); return b; },
    writeMemory(addr, b) { memory.write(addr, b); },
  };
  const cpu = {
    load(addr, size) {
      if (addr >= SMMU_BASE && addr < SMMU_BASE + SMMU_SIZE) return smmu.mmioRead(addr - SMMU_BASE, size);
      if (addr >= DMA_BASE && addr < DMA_BASE + 0x100) return dmaEngine.mmioRead(addr - DMA_BASE);
      return 0;
    },
    store(addr, size, v) {
      if (addr >= SMMU_BASE && addr < SMMU_BASE + SMMU_SIZE) smmu.mmioWrite(addr - SMMU_BASE, size, v);
      else if (addr >= DMA_BASE && addr < DMA_BASE + 0x100) dmaEngine.mmioWrite(addr - DMA_BASE, v);
    },
  };
  // The guest driver reaches the SMMU through the CPU bus at SMMU_BASE, like a kernel would.
  const guestBus = {
    mmioRead: (off, size) => cpu.load(SMMU_BASE + off, size),
    mmioWrite: (off, size, v) => cpu.store(SMMU_BASE + off, size, v),
    readMemory: bus.readMemory,
    writeMemory: bus.writeMemory,
  };

  const log = [];
  const irqsSeen = { eventq: 0, priq: 0, 'cmd-sync': 0, gerror: 0 };

  // ---- the guest: a driver script, one step per loop iteration --------------------------
  function* guest() {
    const idr0 = Number(cpu.load(SMMU_BASE + 0x0, 4));
    log.push(`IDR0=0x${idr0.toString(16)} MSI=${(idr0 >>> 13) & 1} (QEMU 7.2: wired interrupts only)`);
    const drv = new GuestDriver(guestBus, { heap: { base: RAM_BASE + 0x100000, size: 0x400000 }, strtab: { log2size: 8 } });
    drv.init(); // stream table, CMDQ, EVTQ, IRQ_CTRL, SMMUEN
    yield;

    // A DMA domain for the emulated engine: two buffers, IOVA 0x1000_0000 -> RAM
    const dom = drv.createDomain({ asid: 1 });
    const SRC = RAM_BASE + 0x800000, DST = RAM_BASE + 0x900000;
    drv.map(dom, 0x10000000, SRC, 0x1000);
    drv.map(dom, 0x10001000, DST, 0x1000);
    drv.attach(0x08, dom); // STE -> CD -> page tables, CFGI_STE + CMD_SYNC
    bus.writeMemory(SRC, new TextEncoder().encode('hello from the guest, via the SMMU'));
    cpu.store(DMA_BASE + 0x00, 8, 0x10000000);
    cpu.store(DMA_BASE + 0x08, 8, 0x10001000);
    cpu.store(DMA_BASE + 0x10, 8, 34);
    cpu.store(DMA_BASE + 0x18, 8, 1); // go
    yield; // the device runs in the machine loop
    log.push(`copy 1: status ${cpu.load(DMA_BASE + 0x20, 4)}, DST reads "${new TextDecoder().decode(bus.readMemory(DST, 34))}"`);

    // Unmap the destination (strict: TLBI_NH_VA, then a CMD_SYNC that raises the cmd-sync line)
    const tlbis = drv.unmap(dom, 0x10001000, 0x1000);
    drv.submit([...tlbis, encode.cmdSync(1 /* CS=IRQ */)]);
    cpu.store(DMA_BASE + 0x18, 8, 1); // the device tries again: its write must fault
    yield;
    log.push(`copy 2 after unmap: status ${cpu.load(DMA_BASE + 0x20, 4)} (2 = fault)`);
    yield; // wait for the event interrupt

    // The passthrough NIC: a stage-1 domain whose STE the vSMMU installs on the pSMMU
    const nicDom = drv.createDomain({ asid: 2 });
    drv.map(nicDom, 0x20000000, RAM_BASE + 0xa00000, 0x2000);
    drv.attach(0x10, nicDom);
    const tx = psmmu.dma(0x1200, 0x20000010, 'read'); // the physical device's DMA, on the host
    log.push(`passthrough DMA at IOVA 0x20000010 -> PA 0x${tx.pa.toString(16)} (ok=${tx.ok})`);
    drv.submit([...drv.unmap(nicDom, 0x20000000, 0x1000), encode.cmdSync()]); // forwarded to the pSMMU
    const tx2 = psmmu.dma(0x1200, 0x20000010, 'read'); // faults on the host; reported to the guest's EVTQ with the vSID
    log.push(`passthrough DMA after unmap: ok=${tx2.ok}`);
    yield;
  }

  // ---- the emulator's main loop: CPU, devices, interrupts ----------------------------
  const cpuThread = guest();
  let steps = 0;
  const events = [];
  let readEvents = null;
  for (;;) {
    const r = cpuThread.next();
    steps++;
    dmaEngine.tick();
    for (const [line, spi] of Object.entries(SMMU_SPI)) {
      const n = gic.take(spi);
      if (!n) continue;
      irqsSeen[line] += n;
      if (line === 'eventq') {
        // the guest's EVTQ handler: consume records (a second driver view of the same queues)
        readEvents ??= eventReader(guestBus);
        for (const e of readEvents()) events.push(e);
      }
    }
    if (r.done) break;
  }
  const stats = smmu.stats();
  return {
    steps, log, irqs: irqsSeen, events,
    stats: { commands: stats.commands, syncs: stats.syncs, translations: stats.translations, forwarded: stats.forwarded, filtered: stats.filtered },
    psmmu: { steInstalls: psmmu.counters.steInstalls, entries: psmmu.counters.entries, faults: psmmu.counters.faults },
  };
}

/** Reads new event records straight from the queue registers and memory, as an IRQ handler would. */
function eventReader(bus) {
  const EVENTQ_BASE = 0xa0, EVENTQ_PROD = 0x100a8, EVENTQ_CONS = 0x100ac;
  return () => {
    const base = Number(BigInt(bus.mmioRead(EVENTQ_BASE, 8)) & 0x000fffffffffffe0n);
    const log2 = Number(BigInt(bus.mmioRead(EVENTQ_BASE, 8)) & 0x1fn);
    const mask = (2 << log2) - 1;
    const prod = Number(bus.mmioRead(EVENTQ_PROD, 4)) & mask;
    let cons = Number(bus.mmioRead(EVENTQ_CONS, 4)) & mask;
    const out = [];
    while (cons !== prod) {
      const rec = bus.readMemory(base + (cons & ((1 << log2) - 1)) * 32, 32);
      const dv = new DataView(rec.buffer);
      out.push({ type: rec[0], sid: dv.getUint32(4, true), addr: '0x' + dv.getBigUint64(16, true).toString(16) });
      cons = (cons + 1) & mask;
    }
    bus.mmioWrite(EVENTQ_CONS, 4, cons);
    return out;
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then((r) => console.log(JSON.stringify(r, null, 2)), (e) => { console.error(e); process.exit(1); });
}
