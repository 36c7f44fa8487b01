import { useQuery } from '@tanstack/react-query';
import { useEffect, useRef } from 'react';
import { Link, useParams } from 'wouter';
import uPlot from 'uplot';
import { api, errorText, request, type Connector } from '../api';
import { Alert, PageTitle, StatusBadge, tableClass, when } from '../components/ui';
import { useOrg } from '../org';

interface Check {
  checked_at: string;
  success: boolean;
  latency_ms: number;
  error_code: string | null;
  message: string | null;
  source: 'manual' | 'scheduled';
}
interface Window {
  uptime_percent: number | null;
  p50_ms: number | null;
  p95_ms: number | null;
  checks: number;
}
interface Health {
  summary: Record<'1h' | '24h' | '7d', Window>;
  data: Check[];
  next_cursor: string | null;
}

const percent = (value: number | null) => (value === null ? 'no checks' : `${value.toFixed(1)} %`);
const ms = (value: number | null) => (value === null ? 'n/a' : `${value} ms`);

/** Uptime and latency over 1 h, 24 h and 7 d, the recent checks as a strip, a chart and its table. */
export function HealthPage() {
  const org = useOrg();
  const { id } = useParams<{ id: string }>();
  const connector = useQuery({ queryKey: [org.slug, 'connector', id], queryFn: async () => (await request<Connector>(`/connectors/${encodeURIComponent(id)}`, { org: org.slug })).data });
  const health = useQuery({ queryKey: [org.slug, 'health', id], queryFn: () => api.get<Health>(`/connectors/${encodeURIComponent(id)}/health?limit=100`, org.slug) });
  const checks = [...(health.data?.data ?? [])].reverse();

  return (
    <>
      <PageTitle
        actions={
          <Link href={`/connectors/${id}`} className="rounded border border-slate-400 bg-white px-3 py-1.5 text-sm font-medium">
            Settings
          </Link>
        }
      >
        Health{connector.data ? ` of ${connector.data.name}` : ''}
      </PageTitle>
      {connector.data ? (
        <p className="mb-4">
          <StatusBadge status={connector.data.status} />
        </p>
      ) : null}
      {health.error ? <Alert>{errorText(health.error)}</Alert> : null}
      {health.data ? (
        <>
          <table className={`${tableClass} mb-6 max-w-2xl`}>
            <caption className="mb-2 text-left font-semibold">Summary</caption>
            <thead>
              <tr>
                <th scope="col">Window</th>
                <th scope="col">Uptime</th>
                <th scope="col">p50</th>
                <th scope="col">p95</th>
                <th scope="col">Checks</th>
              </tr>
            </thead>
            <tbody>
              {(['1h', '24h', '7d'] as const).map((window) => {
                const s = health.data.summary[window];
                return (
                  <tr key={window} data-window={window}>
                    <th scope="row">{window}</th>
                    <td>{percent(s.uptime_percent)}</td>
                    <td>{ms(s.p50_ms)}</td>
                    <td>{ms(s.p95_ms)}</td>
                    <td>{s.checks}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          <h2 className="mb-2 font-semibold">Recent checks</h2>
          <ol className="mb-6 flex flex-wrap gap-1" aria-label="Recent checks, oldest first">
            {checks.slice(-50).map((c, i) => (
              <li key={c.checked_at + i} className={`h-6 w-3 rounded-sm ${c.success ? 'bg-green-700' : 'bg-red-700'}`} title={`${when(c.checked_at)}: ${c.success ? 'ok' : c.error_code ?? 'failed'}`}>
                <span className="sr-only">
                  {when(c.checked_at)}: {c.success ? 'ok' : `failed (${c.error_code ?? 'error'})`}
                </span>
              </li>
            ))}
          </ol>
          <h2 className="mb-2 font-semibold">Latency</h2>
          <LatencyChart checks={checks} />
          <table className={`${tableClass} mt-6`}>
            <caption className="mb-2 text-left font-semibold">Checks, newest first</caption>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Result</th>
                <th scope="col">Latency</th>
                <th scope="col">Source</th>
                <th scope="col">Message</th>
              </tr>
            </thead>
            <tbody>
              {health.data.data.map((c, i) => (
                <tr key={c.checked_at + i}>
                  <td>{when(c.checked_at)}</td>
                  <td>{c.success ? 'ok' : `failed: ${c.error_code ?? 'error'}`}</td>
                  <td>{c.latency_ms} ms</td>
                  <td>{c.source}</td>
                  <td className="break-words">{c.message ?? ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      ) : null}
    </>
  );
}

/** uPlot's canvas is decorative to assistive technology: the table below carries the same figures. */
function LatencyChart({ checks }: { checks: Check[] }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const node = ref.current;
    if (!node || checks.length === 0) return;
    const xs = checks.map((c) => new Date(c.checked_at).getTime() / 1000);
    const ok = checks.map((c) => (c.success ? c.latency_ms : null));
    const failed = checks.map((c) => (c.success ? null : c.latency_ms));
    const chart = new uPlot(
      {
        width: Math.max(300, Math.min(node.clientWidth || 800, 1000)),
        height: 220,
        series: [
          {},
          { label: 'latency (ms)', stroke: '#1d4ed8', width: 2, spanGaps: true },
          { label: 'failed', stroke: '#b91c1c', width: 0, points: { show: true, size: 8, fill: '#b91c1c' } },
        ],
        axes: [{}, { label: 'ms' }],
      },
      [xs, ok, failed],
      node,
    );
    return () => chart.destroy();
  }, [checks]);
  if (checks.length === 0) return <p className="text-sm">No checks yet.</p>;
  return <div ref={ref} aria-hidden="true" data-testid="latency-chart" />;
}
