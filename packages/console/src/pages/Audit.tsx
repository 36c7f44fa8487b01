import { useInfiniteQuery } from '@tanstack/react-query';
import { useLocation, useSearch } from 'wouter';
import { api, errorText, type Page } from '../api';
import { Alert, Button, PageTitle, tableClass, when } from '../components/ui';
import { useOrg } from '../org';

interface AuditEvent {
  id: string;
  actor_type: string;
  actor_id: string | null;
  action: string;
  target_type: string | null;
  target_id: string | null;
  outcome: string;
  detail: Record<string, unknown> | null;
  created_at: string;
}

/** The audit log with filters in the URL; every detail is rendered as text. */
export function AuditPage() {
  const org = useOrg();
  const search = useSearch();
  const [, navigate] = useLocation();
  const params = new URLSearchParams(search);
  const filter = { action: params.get('action') ?? '', outcome: params.get('outcome') ?? '' };
  const events = useInfiniteQuery({
    queryKey: [org.slug, 'audit', filter],
    initialPageParam: '',
    queryFn: ({ pageParam }) => {
      const query = new URLSearchParams({ limit: '50' });
      if (filter.action) query.set('action', filter.action);
      if (filter.outcome) query.set('outcome', filter.outcome);
      if (pageParam) query.set('cursor', pageParam);
      return api.get<Page<AuditEvent>>(`/audit-events?${query}`, org.slug);
    },
    getNextPageParam: (last) => last.next_cursor ?? undefined,
  });
  const setFilter = (key: string, value: string) => {
    const next = new URLSearchParams(search);
    if (value) next.set(key, value);
    else next.delete(key);
    navigate(`/audit${next.toString() ? `?${next}` : ''}`);
  };
  const rows = events.data?.pages.flatMap((p) => p.data) ?? [];
  return (
    <>
      <PageTitle>Audit</PageTitle>
      <form className="mb-4 flex flex-wrap gap-4 text-sm" aria-label="Filters" onSubmit={(e) => { e.preventDefault(); setFilter('action', String(new FormData(e.currentTarget).get('action') ?? '').trim()); }}>
        <label className="flex items-center gap-2">
          Action
          <input name="action" defaultValue={filter.action} className="rounded border border-slate-500 px-1 py-1" placeholder="e.g. connector.create" />
        </label>
        <label className="flex items-center gap-2">
          Outcome
          <select value={filter.outcome} onChange={(e) => setFilter('outcome', e.target.value)} className="rounded border border-slate-500 px-1 py-1">
            <option value="">any</option>
            <option value="success">success</option>
            <option value="failure">failure</option>
            <option value="denied">denied</option>
          </select>
        </label>
        <Button type="submit">Apply</Button>
      </form>
      {events.error ? <Alert>{errorText(events.error)}</Alert> : null}
      <table className={tableClass}>
        <caption className="sr-only">Audit events, newest first</caption>
        <thead>
          <tr>
            <th scope="col">When</th>
            <th scope="col">Action</th>
            <th scope="col">Outcome</th>
            <th scope="col">Actor</th>
            <th scope="col">Target</th>
            <th scope="col">Detail</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((e) => (
            <tr key={e.id}>
              <td>{when(e.created_at)}</td>
              <td className="font-mono">{e.action}</td>
              <td>{e.outcome}</td>
              <td>
                {e.actor_type} {e.actor_id ?? ''}
              </td>
              <td>
                {e.target_type ?? ''} {e.target_id ?? ''}
              </td>
              <td className="font-mono text-xs break-all">{e.detail ? JSON.stringify(e.detail) : ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {events.hasNextPage ? (
        <Button className="mt-4" onClick={() => events.fetchNextPage()} disabled={events.isFetchingNextPage}>
          Load more
        </Button>
      ) : null}
    </>
  );
}
