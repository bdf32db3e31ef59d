// The browser demo: the topology explorer with controls, live SVG charts, the CMDQ ring,
// the event queue, the vdev and vASID tables, and a comparison of every topology.
// Runs the same modules (and the same vsmmu.wasm) as `vsmmu topo` in Node; loaded
// by web/main.js as an ES module straight from /dist/src/web/demo.js.

import {
  TOPOLOGIES, DEFAULT_WORKLOAD, DEFAULT_STEPS, TopologyRun, checkWorkload, topologySpec, exploreMigrations,
  type TopologyMetrics, type TopologyName, type Workload,
} from '../topo/explore.js';
import { topologyAnswer } from '../topo/answer.js';
import { compareTopologies } from '../topo/compare.js';
import { answerHtml } from './answer-panel.js';

import { LiveSeries, liveChartSvg } from '../topo/live.js';
import { cmdqView, eventqView, vdevTable, vasidTable } from '../topo/views.js';
import { esc, fmt, topologySvg, topologyDiagramSvg, describeWorkload } from '../topo/svg.js';
import type { MigrationReport } from '../topo/migrate.js';

/** What each topology stands for (shown under the selector). */
export const TOPOLOGY_NOTES: Record<TopologyName, string> = {
  'one-to-one': 'One vSMMU backed by one pSMMU. Emulated and passthrough devices share the vSMMU, so it decodes every command: emulated devices\u2019 TLBIs go to the model\u2019s IOTLB, and (their ASIDs being unknown to the vASID table) to the pSMMU as well.',
  'join-vasid': 'Join (2p \u2192 1v): one vSMMU over several pSMMUs. The vASID table, learned from the passthrough devices\u2019 CDs, sends each TLBI_NH_ASID/VA only to the pSMMUs holding that ASID; unknown ASIDs are still broadcast.',
  'join-broadcast': 'Join (2p \u2192 1v) without the vASID table: a TLBI carries an ASID, not a StreamID, so every TLBI goes to every pSMMU (with that pSMMU\u2019s VMID).',
  split: 'Split (1p \u2192 2v): two vSMMUs of the VM on one pSMMU. Each vIOMMU has its own VMID, so the same stage-2 translations are cached twice in the pSMMU\u2019s VMID-tagged walk cache.',
  dedicated: 'A dedicated passthrough vSMMU (no emulated caches: its queue is only rewritten and forwarded) next to a vSMMU for the emulated devices. Emulated devices\u2019 TLBIs never reach a pSMMU.',
  'per-psmmu': 'As many vSMMUs as pSMMUs (each with the passthrough devices of its pSMMU and some emulated ones): no guest command is ever replicated across pSMMUs. The baseline a join is measured against.',
  'dedicated-join': 'The dedicated passthrough vSMMU joined over several pSMMUs, with the vASID table: every ASID it sees belongs to a passthrough device, so every TLBI is targeted; the emulated devices have their own vSMMU.',
};

const SAMPLE_MS = 250;
const WINDOW = 120; // samples on the live charts (30 s)

type Speed = 'slow' | 'medium' | 'max';
const SPEEDS: Record<Speed, number> = { slow: 2, medium: 20, max: Infinity };

/** The rows of the counter table: label and how to read it from the metrics. */
const METRIC_ROWS: Array<[string, string, (m: TopologyMetrics) => string]> = [
  ['steps', 'Batches (steps) run', (m) => fmt(m.steps)],
  ['commands', 'Guest commands (all vSMMUs)', (m) => fmt(m.commands)],
  ['forwarded', 'Entries that took effect on pSMMUs', (m) => Object.entries(m.forwarded).map(([k, v]) => `${k}: ${fmt(v)}`).join(', ') || '\u2013'],
  ['filtered', 'Commands kept in the model (filtered)', (m) => fmt(m.filtered)],
  ['broadcast_tlbi', 'Broadcast TLBIs', (m) => fmt(m.broadcast_tlbi)],
  ['targeted_tlbi', 'Targeted TLBIs', (m) => fmt(m.targeted_tlbi)],
  ['backend_calls', 'Host calls to pSMMUs (ioctls)', (m) => fmt(m.backend_calls)],
  ['over_invalidation', 'Over-invalidated pSMMU IOTLB entries', (m) => fmt(m.over_invalidation)],
  ['iotlb_hit_rate', 'pSMMU IOTLB hit rate', (m) => m.iotlb_hit_rate.toFixed(3)],
  ['s2_hit_rate', 'pSMMU stage-2 walk-cache hit rate', (m) => m.s2_hit_rate.toFixed(3)],
  ['model_iotlb_hit_rate', 'Model IOTLB hit rate (emulated DMA)', (m) => m.model_iotlb_hit_rate.toFixed(3)],
  ['sync_latency_us', 'Mean CMD_SYNC wait', (m) => `${m.sync_latency_us.toFixed(2)} \u00b5s`],
  ['walk_reads', 'pSMMU table-walk reads', (m) => fmt(m.walk_reads)],
  ['dma', 'DMA accesses', (m) => fmt(m.dma)],
  ['events', 'Event records consumed (faults)', (m) => `${fmt(m.events)} (${fmt(m.faults)})`],
];

function $(doc: Document, id: string): HTMLElement {
  const e = doc.getElementById(id);
  if (!e) throw new Error(`demo: #${id} is missing from the page`);
  return e;
}

function table(head: string[], rows: string[][], cls = ''): string {
  return `<table class="${cls}"><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead>` +
    `<tbody>${rows.map((r) => `<tr>${r.join('')}</tr>`).join('')}</tbody></table>`;
}

const td = (s: string | number, cls = '') => `<td${cls ? ` class="${cls}"` : ''}>${esc(String(s))}</td>`;
const hex = (v: number) => '0x' + v.toString(16);

export class Demo {
  run?: TopologyRun;
  series?: LiveSeries;
  running = false;
  private busy = false;
  private lastFrame = 0;
  private lastSample = 0;
  private owed = 0;
  private rebuildTimer = 0;
  private generation = 0;
  private raf = 0;
  /** The comparison running now (its button cancels it). */
  private comparing?: AbortController;

  constructor(readonly doc: Document) {}

  private el(id: string): HTMLElement {
    return $(this.doc, id);
  }

  private input(id: string): HTMLInputElement {
    return this.el(id) as HTMLInputElement;
  }

  /** The workload the controls describe (throws on a value out of range). */
  workload(): Workload {
    const num = (id: string) => Number(this.input(id).value);
    return checkWorkload({
      ...DEFAULT_WORKLOAD,
      devices: num('devices'),
      passthroughShare: num('pt-share'),
      asidsPerDevice: num('asids'),
      mapsPerStep: num('maps'),
      dmaPerStep: num('dma'),
      mode: (this.el('mode') as HTMLSelectElement).value as Workload['mode'],
      lazyBatch: num('lazy-batch'),
      joinPsmmus: num('join-psmmus'),
      faultRate: num('fault-rate'),
      seed: num('seed'),
    });
  }

  topology(): TopologyName {
    return (this.el('topology') as HTMLSelectElement).value as TopologyName;
  }

  private speed(): number {
    return SPEEDS[(this.el('speed') as HTMLSelectElement).value as Speed] ?? SPEEDS.medium;
  }

  private setState(s: 'loading' | 'ready' | 'running' | 'paused' | 'comparing' | 'error'): void {
    this.doc.body.dataset.state = s;
    this.el('state').textContent = s;
    (this.el('run') as HTMLButtonElement).disabled = s === 'running' || s === 'comparing' || s === 'loading';
    (this.el('pause') as HTMLButtonElement).disabled = s !== 'running';
    (this.el('step') as HTMLButtonElement).disabled = s === 'comparing' || s === 'loading';
    (this.el('compare') as HTMLButtonElement).disabled = s === 'comparing' || s === 'loading';
    (this.el('migrate') as HTMLButtonElement).disabled = s === 'comparing' || s === 'loading';
    (this.el('migrate-all') as HTMLButtonElement).disabled = s === 'comparing' || s === 'loading';
  }

  showError(err: unknown): void {
    const e = this.el('error');
    e.hidden = false;
    e.textContent = String(err instanceof Error ? err.message : err);
  }

  private clearError(): void {
    const e = this.el('error');
    e.hidden = true;
    e.textContent = '';
  }

  async init(): Promise<void> {
    const sel = this.el('topology') as HTMLSelectElement;
    sel.innerHTML = TOPOLOGIES.map((t) => `<option value="${t.name}">${esc(t.label)}</option>`).join('');
    const w = DEFAULT_WORKLOAD;
    const set = (id: string, v: number | string) => { this.input(id).value = String(v); };
    set('devices', w.devices); set('pt-share', w.passthroughShare); set('asids', w.asidsPerDevice); set('maps', w.mapsPerStep);
    set('dma', w.dmaPerStep); set('lazy-batch', w.lazyBatch); set('join-psmmus', w.joinPsmmus); set('fault-rate', w.faultRate ?? 0); set('seed', w.seed);
    set('compare-steps', DEFAULT_STEPS); // the README's and `vsmmu topo`'s defaults: the page states the same answer
    (this.el('mode') as HTMLSelectElement).value = w.mode;
    const charts = this.el('charts');
    charts.innerHTML = '';
    for (const id of ['psmmu-rate', 'forwarded', 'tlbi', 'overinval', 'hit', 'sync', 'occupancy', 'events']) {
      const f = this.doc.createElement('figure');
      f.className = 'live-chart';
      f.id = `chart-${id}`;
      charts.appendChild(f);
    }
    this.el('metrics').innerHTML = table(['counter', 'value'], METRIC_ROWS.map(([key, label]) =>
      [td(label), `<td class="num" data-key="${key}">\u2013</td>`]));
    this.el('run').addEventListener('click', () => this.start());
    this.el('pause').addEventListener('click', () => this.pause());
    this.el('step').addEventListener('click', () => this.stepOnce());
    this.el('reset').addEventListener('click', () => void this.rebuild(false));
    this.el('compare').addEventListener('click', () => void this.compare());
    this.el('migrate').addEventListener('click', () => void this.migrate());
    this.el('migrate-all').addEventListener('click', () => void this.migrationMatrix());
    this.el('topology').addEventListener('change', () => void this.rebuild(this.running));
    for (const id of ['devices', 'pt-share', 'asids', 'maps', 'dma', 'mode', 'lazy-batch', 'join-psmmus', 'fault-rate', 'seed']) {
      this.el(id).addEventListener('change', () => this.scheduleRebuild());
    }
    this.el('pt-share').addEventListener('input', () => this.showShare());
    this.el('view-vsmmu').addEventListener('change', () => this.renderTables());
    this.showShare();
    this.setState('loading');
    await this.rebuild(false);
    this.lastFrame = performance.now();
    this.raf = requestAnimationFrame(this.frame);
    void this.compare(); // the answer, measured in this page, from the start
  }

  private showShare(): void {
    const v = Number(this.input('pt-share').value);
    this.el('pt-share-out').textContent = `${Math.round(v * 100)}%`;
  }

  private scheduleRebuild(): void {
    clearTimeout(this.rebuildTimer);
    this.rebuildTimer = setTimeout(() => void this.rebuild(this.running), 150) as unknown as number;
  }

  /** A fresh run of the selected topology on the current workload. */
  async rebuild(keepRunning: boolean): Promise<void> {
    const gen = ++this.generation;
    this.running = false;
    this.busy = true;
    this.clearError();
    try {
      const w = this.workload();
      const name = this.topology();
      this.el('topology-note').textContent = TOPOLOGY_NOTES[name];
      this.el('workload-line').textContent = describeWorkload(w);
      this.el('diagram').innerHTML = topologyDiagramSvg(topologySpec(name, w));
      const run = await TopologyRun.create(name, w);
      if (gen !== this.generation) return; // superseded
      this.run = run;
      this.series = new LiveSeries(run, WINDOW);
      this.series.rebase(performance.now());
      const vs = this.el('view-vsmmu') as HTMLSelectElement;
      vs.innerHTML = run.vm.vsmmus.map((n, i) => `<option value="${i}">vSMMU ${esc(n.spec.name)}${n.spec.passthroughOnly ? ' (passthrough only)' : ''}</option>`).join('');
      this.busy = false;
      this.renderCharts();
      this.renderTables();
      if (keepRunning) this.start();
      else if (!this.comparing) this.setState('ready');
    } catch (err) {
      if (gen !== this.generation) return;
      this.busy = false;
      this.setState('error');
      this.showError(err);
    }
  }

  start(): void {
    if (!this.run || this.busy || this.comparing) return;
    this.running = true;
    this.owed = 0;
    this.series?.rebase(performance.now());
    this.lastSample = performance.now();
    this.setState('running');
  }

  pause(): void {
    if (!this.running) return;
    this.running = false;
    // no sample here: a partial interval would draw a false dip; start() rebases
    this.renderTables();
    this.setState('paused');
  }

  /** One batch of guest work, then every view is redrawn. */
  stepOnce(): void {
    if (!this.run || this.busy) return;
    if (this.running) this.pause();
    try {
      this.run.step();
    } catch (err) {
      this.fail(err);
      return;
    }
    this.renderTables(); // the charts keep their per-second scale: one batch adds no point
    this.setState('paused');
  }

  private fail(err: unknown): void {
    this.running = false;
    this.setState('error');
    this.showError(err);
  }

  private frame = (now: number): void => {
    const dt = Math.min(250, now - this.lastFrame);
    this.lastFrame = now;
    if (this.running && this.run && !this.busy) {
      const t0 = performance.now();
      const perSec = this.speed();
      try {
        if (perSec === Infinity) {
          do this.run.step(); while (performance.now() - t0 < 12);
        } else {
          this.owed = Math.min(this.owed + (dt * perSec) / 1000, 4);
          while (this.owed >= 1 && performance.now() - t0 < 12) {
            this.run.step();
            this.owed--;
          }
        }
      } catch (err) {
        this.fail(err);
      }
      if (now - this.lastSample >= SAMPLE_MS) this.sampleAndRender(now);
    }
    this.raf = requestAnimationFrame(this.frame);
  };

  private sampleAndRender(now: number): void {
    this.lastSample = now;
    this.series?.sample(now);
    this.renderCharts();
    this.renderTables();
  }

  renderCharts(): void {
    const s = this.series;
    if (!s) return;
    // the x axis grows with the data up to the full window, then scrolls
    const slots = Math.min(WINDOW, Math.max(20, s.length));
    for (const c of s.charts()) {
      const f = this.doc.getElementById(`chart-${c.id}`);
      // drawn at the figure's own width so that text keeps its size
      if (f) f.innerHTML = liveChartSvg(c, slots, (slots * SAMPLE_MS) / 1000, Math.max(360, Math.floor(f.clientWidth) || 440), 200);
    }
  }

  renderTables(): void {
    const run = this.run;
    if (!run) return;
    const m = run.metrics();
    for (const [key, , get] of METRIC_ROWS) {
      const cell = this.el('metrics').querySelector(`[data-key="${key}"]`);
      if (cell) cell.textContent = get(m);
    }
    const vi = Math.min(Number((this.el('view-vsmmu') as HTMLSelectElement).value) || 0, run.vm.vsmmus.length - 1);
    const q = cmdqView(run, vi, 20);
    this.el('cmdq-head').textContent = `vSMMU ${q.vsmmu}: ${q.size} entries at ${hex(q.base)}; PROD ${q.prod} (wrap ${q.prodWrap}), CONS ${q.cons} (wrap ${q.consWrap}), ` +
      `${q.pending} pending${q.err ? `, CONS.ERR ${q.err}` : ''}`;
    this.el('cmdq').innerHTML = table(['slot', '', 'command', 'fields', 'raw (w1 w0)'], q.slots.map((s) => [
      td(s.index, 'num'),
      td([s.prod ? 'PROD' : '', s.cons ? 'CONS' : ''].filter(Boolean).join(' '), 'mark'),
      td(s.name, 'op'), td(s.fields), td(`${s.words[1]} ${s.words[0]}`, 'raw'),
    ]), 'ring');
    const e = eventqView(run, vi, 12);
    this.el('evtq-head').textContent = `vSMMU ${e.vsmmu}: ${e.size} entries; PROD ${e.prod}, CONS ${e.cons}${e.overflow ? ', overflowed' : ''}; ` +
      `${run.eventCount} records consumed in all`;
    this.el('evtq').innerHTML = e.records.length === 0
      ? '<p class="empty">No events yet (raise the fault rate to make devices touch unmapped IOVAs).</p>'
      : table(['step', 'event', 'SID', 'SSID', 'address'], e.records.map((r) => [
        td(r.step, 'num'), td(r.name, 'op'), td(hex(r.sid)), td(r.ssid === undefined ? '' : r.ssid), td(hex(r.addr)),
      ]));
    const vd = vdevTable(run);
    this.el('vdev').innerHTML = vd.length === 0 ? '<p class="empty">No passthrough devices.</p>'
      : table(['vSMMU', 'vSID', 'pSMMU', 'pSID', 'VMID there'], vd.map((r) => [td(r.vsmmu), td(hex(r.vsid)), td(r.psmmu), td(hex(r.psid)), td(r.vmid, 'num')]));
    const va = vasidTable(run);
    this.el('vasid').innerHTML = table(['vSMMU', 'ASID', 'device', 'holders (learned)', 'a TLBI goes to'], va.map((r) => [
      td(r.vsmmu), td(r.asid, 'num'), td(`${hex(r.sid)} ${r.passthrough ? 'passthrough' : 'emulated'}`),
      td(r.holders.join(', ') || 'unknown'),
      td(r.sentTo.length === 0 ? 'model only' : r.holders.length === 0 ? `${r.sentTo.join(', ')} (broadcast)` : r.sentTo.join(', '), r.holders.length === 0 && r.sentTo.length > 0 ? 'warn' : ''),
    ]));
  }

  /**
   * Moves the running VM to a host with the chosen number of pSMMUs (topo/migrate.ts) and
   * says what the guest saw and what arriving cost; a layout that cannot move says why.
   */
  async migrate(): Promise<MigrationReport | undefined> {
    const run = this.run;
    if (!run || this.busy) return undefined;
    const wasRunning = this.running;
    this.running = false;
    this.busy = true;
    const to = Number((this.el('migrate-to') as HTMLSelectElement).value);
    try {
      const r = await run.migrate(to);
      const out = this.el('migrate-result');
      if (!r.migrated) {
        out.textContent = `Cannot migrate this VM to a host with ${to} pSMMU${to === 1 ? '' : 's'}: ${r.reason}. It stays where it is.`;
        out.className = 'note warn';
      } else {
        out.textContent = `Migrated from ${r.from} to ${r.to} pSMMU${r.to === 1 ? '' : 's'} (${run.migrations} so far): ` +
          `${r.guest_noticed ? 'the guest saw its registers change' : 'the guest noticed nothing (every vSMMU register identical, same devices)'}; ` +
          `snapshots ${r.snapshot_bytes} bytes; arrival: ${r.ste_installs} STE installs, ${r.arrival_calls} host calls, ` +
          `${r.arrival_entries} entries (no invalidation), ${r.arrival_us.toFixed(1)} µs on the pSMMUs; ${r.vasids_relearned} vASIDs re-learned from the guest's CDs at once, ` +
          'so TLBIs stay targeted; the caches start empty as after a QEMU migration (the counters restart with the new vSMMUs and pSMMUs).';
        out.className = 'note';
        this.doc.body.dataset.migrations = String(run.migrations);
        // the new host's layout, and live counters from the new vSMMUs and pSMMUs on
        this.el('diagram').innerHTML = topologyDiagramSvg({ psmmus: [...run.vm.psmmus.keys()].map((name) => ({ name })), vsmmus: run.vm.vsmmus.map((n) => n.spec) });
        this.series = new LiveSeries(run, WINDOW);
        this.series.rebase(performance.now());
      }
      this.doc.body.dataset.migrated = r.migrated ? 'yes' : 'no';
      this.busy = false;
      this.renderCharts();
      this.renderTables();
      if (wasRunning) this.start();
      else this.setState('paused');
      return r;
    } catch (err) {
      this.busy = false;
      this.fail(err);
      return undefined;
    }
  }

  /** Every topology moved to hosts with 1, 2 and 3 pSMMUs (exploreMigrations), as a table. */
  async migrationMatrix(): Promise<void> {
    const wasRunning = this.running;
    this.running = false;
    this.setState('comparing');
    this.clearError();
    try {
      const w = this.workload();
      const rows: string[][] = [];
      for (const t of TOPOLOGIES) {
        this.el('migrate-all-status').textContent = `migrating ${t.label} (${rows.length + 1}/${TOPOLOGIES.length})\u2026`;
        await new Promise((r) => setTimeout(r, 0));
        const [m] = await exploreMigrations(w, 3, [1, 2, 3], [t.name]);
        rows.push([td(`${m.label} [${m.from} pSMMU${m.from === 1 ? '' : 's'}]`), ...m.migrations.map((r) => (r.migrated
          ? td(`${r.guest_noticed ? 'NOTICED' : 'unnoticed'}: ${r.ste_installs} STE, ${r.arrival_calls} calls, bcast ${r.broadcast_tlbi_last_step_before}\u2192${r.broadcast_tlbi_first_step_after}`, 'ok')
          : `<td class="warn" title="${esc(r.reason ?? '')}">cannot: vSMMUs would ${r.to > r.from ? 'appear' : 'vanish'}</td>`))]);
      }
      this.el('migrate-table').innerHTML = table(['topology', 'to 1 pSMMU', 'to 2 pSMMUs', 'to 3 pSMMUs'], rows);
      this.el('migrate-all-status').textContent = `3 batches before and after each move (STE installs and host calls at arrival; broadcast TLBIs in the batch before \u2192 the batch after), on: ${describeWorkload(w)}`;
      this.doc.body.dataset.matrix = String(rows.length);
    } catch (err) {
      this.showError(err);
      this.el('migrate-all-status').textContent = 'failed';
    }
    if (wasRunning) this.start();
    else this.setState(this.run ? 'paused' : 'ready');
  }

  /** Runs every topology on the current workload and draws the comparison. */
  async compare(): Promise<TopologyMetrics[] | undefined> {
    // ... and states the answer (the summary panel); called again while it runs, it cancels it
    if (this.comparing) {
      this.comparing.abort();
      return undefined;
    }
    const wasRunning = this.running;
    const before = this.doc.body.dataset.state;
    this.running = false;
    const ac = new AbortController();
    this.comparing = ac;
    this.doc.body.dataset.compared = 'running';
    this.setState('comparing');
    this.compareButton(true);
    this.clearError();
    const status = this.el('compare-status');
    const progress = this.el('compare-progress') as HTMLProgressElement;
    let out: TopologyMetrics[] | undefined;
    try {
      const steps = Number(this.input('compare-steps').value);
      if (!Number.isInteger(steps) || steps < 1 || steps > 100000) throw new RangeError(`batches per topology must be an integer in [1, 100000], got ${this.input('compare-steps').value}`);
      const w = this.workload();
      out = await compareTopologies(w, steps, {
        signal: ac.signal,
        onProgress: (p) => {
          progress.value = p.done / p.total;
          status.textContent = `${TOPOLOGIES[p.index].label} (${p.index + 1}/${TOPOLOGIES.length}): ${Math.round((100 * p.done) / p.total)}%`;
        },
      });
      this.renderComparison(out, w, steps);
      status.textContent = `${fmt(steps)} batches per topology`;
      this.doc.body.dataset.compared = String(out.length);
    } catch (err) {
      if (ac.signal.aborted) {
        status.textContent = 'cancelled';
        this.doc.body.dataset.compared = 'cancelled';
      } else {
        this.showError(err);
        status.textContent = 'failed';
      }
    } finally {
      this.comparing = undefined;
      this.compareButton(false);
    }
    if (wasRunning) this.start();
    else this.setState(before === 'paused' ? 'paused' : this.run ? 'ready' : 'loading');
    return out;
  }

  /** The Compare button turns into Cancel while a comparison runs. */
  private compareButton(cancel: boolean): void {
    const b = this.el('compare') as HTMLButtonElement;
    b.textContent = cancel ? 'Cancel' : 'Compare';
    if (cancel) b.disabled = false;
  }

  /** The summary panel, the charts and the table of a finished comparison. */
  private renderComparison(out: TopologyMetrics[], w: Workload, steps: number): void {
    this.el('answer-body').innerHTML = answerHtml(topologyAnswer(out, w), steps, describeWorkload(w));
    this.el('compare-svg').innerHTML = topologySvg(out, w, steps);
    this.el('compare-table').innerHTML = table(
      ['topology', 'commands', 'forwarded', 'host calls', 'broadcast / targeted', 'over-inval.', 'IOTLB hit', 'S2 hit', 'CMD_SYNC \u00b5s'],
      out.map((x) => [
        td(x.label), td(fmt(x.commands), 'num'), td(Object.entries(x.forwarded).map(([k, v]) => `${k}:${v}`).join(' ')),
        td(fmt(x.backend_calls), 'num'), td(`${x.broadcast_tlbi} / ${x.targeted_tlbi}`, 'num'), td(fmt(x.over_invalidation), 'num'),
        td(x.iotlb_hit_rate.toFixed(3), 'num'), td(x.s2_hit_rate.toFixed(3), 'num'), td(x.sync_latency_us.toFixed(2), 'num'),
      ]));
  }

  stop(): void {
    this.running = false;
    cancelAnimationFrame(this.raf);
  }
}

/** Wires the demo into the page (web/index.html) and starts the first run. */
export async function startDemo(doc: Document = document): Promise<Demo> {
  const demo = new Demo(doc);
  await demo.init();
  return demo;
}
