// The demo's summary panel: what each topology cost in the comparison on screen and the
// recommendation that follows (src/topo/answer.ts, the same text `vsmmu topo` prints).

import type { TopologyAnswer } from '../topo/answer.js';
import { esc, fmt } from '../topo/svg.js';

/** The panel's HTML for an answer computed from `steps` steps of the workload described by `workload`. */
export function answerHtml(a: TopologyAnswer, steps: number, workload: string): string {
  const tables = a.hosts.map((h) => {
    const rows = h.costs.map((c) => {
      const best = c.name === h.best;
      return `<tr class="${best ? 'best' : ''}" data-topology="${c.name}"><td>${best ? '<span class="badge">recommended</span> ' : ''}${esc(c.label)}</td>` +
        `<td class="num">${fmt(c.entries)}</td><td class="num">${fmt(c.host_calls)}</td><td class="num">${fmt(c.broadcast_tlbi)}</td>` +
        `<td class="num">${c.sync_wait_us.toFixed(2)}</td><td class="num">${c.s2_hit_rate.toFixed(3)}</td></tr>`;
    }).join('');
    return `<div class="scroll-x"><table class="answer-table"><caption>Host with ${h.psmmus} pSMMU${h.psmmus > 1 ? 's' : ''}</caption>` +
      '<thead><tr><th>topology</th><th>entries to pSMMUs</th><th>host calls</th><th>broadcast TLBIs</th><th>mean CMD_SYNC wait (µs)</th><th>S2 walk-cache hit rate</th></tr></thead>' +
      `<tbody>${rows}</tbody></table></div>`;
  }).join('');
  return `<p id="answer-recommendation" class="recommendation">${esc(a.recommendation)}</p>` +
    `<div class="answer-tables">${tables}</div>` +
    `<ul id="answer-findings">${a.findings.map((f) => `<li>${esc(f)}</li>`).join('')}</ul>` +
    `<p class="note">Measured in this page: ${fmt(steps)} batches of ${esc(workload)}. The same defaults as <code>vsmmu topo</code> and the README; change the workload above and compare again.</p>`;
}
