import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { statusLabel } from '../format';
import { STATUSES, type Stats, type TaskStatus } from '../types';

const SERIES = [
  { key: 'created', label: 'Created', color: '#6366f1' },
  { key: 'completed', label: 'Completed', color: '#16a34a' },
  { key: 'failed', label: 'Failed', color: '#dc2626' },
] as const;

const INTEGER_STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000];

function toData(points: Stats['throughput']): uPlot.AlignedData {
  return [points.map((p) => Date.parse(p.minute) / 1_000), ...SERIES.map((s) => points.map((p) => p[s.key]))] as uPlot.AlignedData;
}

/** Tasks created, completed and failed per minute over the last hour (a uPlot line chart). */
export function ThroughputChart({ points }: { points: Stats['throughput'] }) {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);

  useEffect(() => {
    const el = host.current;
    if (!el) return;
    const opts: uPlot.Options = {
      width: Math.max(el.clientWidth, 200),
      height: 220,
      cursor: { points: { size: 7 }, drag: { x: false, y: false } },
      legend: { live: true },
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(4, Math.ceil(max * 1.15))] } },
      axes: [
        { stroke: '#64748b', grid: { stroke: '#eef0f4' }, ticks: { stroke: '#e2e8f0' } },
        { stroke: '#64748b', grid: { stroke: '#eef0f4' }, ticks: { show: false }, incrs: INTEGER_STEPS, size: 44 },
      ],
      series: [
        {
          label: 'Minute',
          value: (_u, v) => (v == null ? '—' : new Date(v * 1_000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })),
        },
        ...SERIES.map((s) => ({
          label: s.label,
          stroke: s.color,
          width: 2,
          fill: `${s.color}14`,
          // A dot on every minute that had any, so that a lone busy minute reads as such rather than as a slope.
          points: {
            show: true,
            size: 5,
            fill: s.color,
            filter: (u: uPlot, i: number) => Array.from(u.data[i] ?? [], (v, idx) => (v ? idx : -1)).filter((idx) => idx >= 0),
          },
          value: (_u: uPlot, v: number | null) => (v == null ? '—' : String(v)),
        })),
      ],
    };
    plot.current = new uPlot(opts, toData(points), el);
    const resize = new ResizeObserver(() => plot.current?.setSize({ width: Math.max(el.clientWidth, 200), height: 220 }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
    // The chart is made once; new numbers go through setData below.
  }, []);

  useEffect(() => {
    plot.current?.setData(toData(points));
  }, [points]);

  return <div class="chart" ref={host} data-testid="throughput-chart" />;
}

const STATUS_COLORS: Record<TaskStatus, string> = {
  SCHEDULED: '#14b8a6',
  NEW: '#94a3b8',
  PENDING: '#f59e0b',
  IN_PROGRESS: '#3b82f6',
  COMPLETED: '#22c55e',
  FAILED: '#ef4444',
  CANCELLED: '#a855f7',
};

/** Tasks by status as a ring, with a legend whose rows filter the task table. */
export function StatusDonut(props: { counts: Stats['by_status']; selected: string[]; onSelect: (s: TaskStatus) => void }) {
  const total = STATUSES.reduce((sum, s) => sum + props.counts[s], 0);
  const r = 52;
  const circumference = 2 * Math.PI * r;
  let offset = 0;
  return (
    <div class="donut" data-testid="status-chart">
      <svg viewBox="0 0 140 140" width="140" height="140" role="img" aria-label="Tasks by status">
        <title>Tasks by status</title>
        <circle cx="70" cy="70" r={r} fill="none" stroke="#eef0f4" stroke-width="18" />
        {total > 0 &&
          STATUSES.filter((s) => props.counts[s] > 0).map((s) => {
            const len = (props.counts[s] / total) * circumference;
            const seg = (
              <circle
                key={s}
                cx="70"
                cy="70"
                r={r}
                fill="none"
                stroke={STATUS_COLORS[s]}
                stroke-width="18"
                stroke-dasharray={`${len} ${circumference - len}`}
                stroke-dashoffset={-offset}
                transform="rotate(-90 70 70)"
              >
                <title>{`${statusLabel(s)}: ${props.counts[s]}`}</title>
              </circle>
            );
            offset += len;
            return seg;
          })}
        <text x="70" y="68" text-anchor="middle" class="donut-total">
          {total.toLocaleString()}
        </text>
        <text x="70" y="86" text-anchor="middle" class="donut-caption">
          tasks
        </text>
      </svg>
      <ul class="legend">
        {STATUSES.map((s) => (
          <li key={s}>
            <button
              type="button"
              class={props.selected.includes(s) ? 'legend-row active' : 'legend-row'}
              onClick={() => props.onSelect(s)}
              title={`Show ${statusLabel(s).toLowerCase()} tasks`}
            >
              <span class="swatch" style={{ background: STATUS_COLORS[s] }} />
              <span class="legend-label">{statusLabel(s)}</span>
              <span class="legend-count">{props.counts[s].toLocaleString()}</span>
              <span class="legend-pct">{total ? `${Math.round((props.counts[s] / total) * 100)}%` : ''}</span>
            </button>
          </li>
        ))}
      </ul>
    </div>
  );
}

/** One bar per type, split by status. */
export function TypeBars({ types }: { types: Stats['by_type'] }) {
  const max = Math.max(1, ...types.map((t) => t.total));
  return (
    <table class="type-bars">
      <tbody>
        {types.map((t) => (
          <tr key={t.type}>
            <th scope="row">{t.type}</th>
            <td class="type-bar-cell">
              <div class="type-bar" style={{ width: `${(t.total / max) * 100}%` }}>
                {STATUSES.filter((s) => t.by_status[s] > 0).map((s) => (
                  <span
                    key={s}
                    style={{ flexGrow: t.by_status[s], background: STATUS_COLORS[s] }}
                    title={`${statusLabel(s)}: ${t.by_status[s]}`}
                  />
                ))}
              </div>
            </td>
            <td class="num">{t.total.toLocaleString()}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
