import { useInfiniteQuery, useQuery } from '@tanstack/react-query';
import { Link, useLocation, useSearch } from 'wouter';
import { api, errorText, type Connector, type Page, type ProviderEntry } from '../api';
import { Alert, Button, PageTitle, Sparkline, StatusBadge, tableClass, when } from '../components/ui';
import { atLeast, useOrg } from '../org';

const statuses = ['healthy', 'failing', 'untested', 'disabled'] as const;
const types = ['database', 'api', 'storage', 'messaging'] as const;

export function useCatalogue(org: string) {
  return useQuery({
    queryKey: [org, 'types'],
    queryFn: () => api.get<{ data: { type: string; providers: ProviderEntry[] }[] }>('/connectors/types', org),
    staleTime: Infinity,
  });
}

/** Connectors with status, last test and recent latency; the filters live in the URL so a view can be shared. */
export function ConnectorsPage() {
  const org = useOrg();
  const search = useSearch();
  const [, navigate] = useLocation();
  const params = new URLSearchParams(search);
  const filter = { status: params.get('status') ?? '', connector_type: params.get('connector_type') ?? '', provider: params.get('provider') ?? '' };
  const catalogue = useCatalogue(org.slug);

  const list = useInfiniteQuery({
    queryKey: [org.slug, 'connectors', filter],
    initialPageParam: '',
    queryFn: ({ pageParam }) => {
      const query = new URLSearchParams({ limit: '25' });
      for (const [key, value] of Object.entries(filter)) if (value) query.set(key, value);
      if (pageParam) query.set('cursor', pageParam);
      return api.get<Page<Connector>>(`/connectors?${query}`, org.slug);
    },
    getNextPageParam: (last) => last.next_cursor ?? undefined,
  });

  const setFilter = (key: string, value: string) => {
    const next = new URLSearchParams(search);
    if (value) next.set(key, value);
    else next.delete(key);
    if (key === 'connector_type') next.delete('provider');
    const query = next.toString();
    navigate(`/connectors${query ? `?${query}` : ''}`);
  };

  const providers = (catalogue.data?.data ?? []).filter((t) => !filter.connector_type || t.type === filter.connector_type).flatMap((t) => t.providers.map((p) => p.provider));
  const rows = list.data?.pages.flatMap((page) => page.data) ?? [];

  return (
    <>
      <PageTitle
        actions={
          atLeast(org.role, 'admin') ? (
            <Button variant="primary" onClick={() => navigate('/connectors/new')}>
              New connector
            </Button>
          ) : null
        }
      >
        Connectors
      </PageTitle>
      <form className="mb-4 flex flex-wrap gap-4 text-sm" onSubmit={(e) => e.preventDefault()} aria-label="Filters">
        <label className="flex items-center gap-2">
          Status
          <select className="rounded border border-slate-500 px-1 py-1" value={filter.status} onChange={(e) => setFilter('status', e.target.value)}>
            <option value="">any</option>
            {statuses.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label className="flex items-center gap-2">
          Type
          <select className="rounded border border-slate-500 px-1 py-1" value={filter.connector_type} onChange={(e) => setFilter('connector_type', e.target.value)}>
            <option value="">any</option>
            {types.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </label>
        <label className="flex items-center gap-2">
          Provider
          <select className="rounded border border-slate-500 px-1 py-1" value={filter.provider} onChange={(e) => setFilter('provider', e.target.value)}>
            <option value="">any</option>
            {providers.map((p) => (
              <option key={p} value={p}>
                {p}
              </option>
            ))}
          </select>
        </label>
      </form>
      {list.error ? <Alert>{errorText(list.error)}</Alert> : null}
      <table className={tableClass}>
        <caption className="sr-only">Connectors</caption>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Provider</th>
            <th scope="col">Status</th>
            <th scope="col">Last tested</th>
            <th scope="col">Recent latency</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((connector) => (
            <tr key={connector.id}>
              <td>
                <Link href={`/connectors/${connector.id}`} className="font-medium text-blue-800 underline">
                  {connector.name}
                </Link>
              </td>
              <td>{connector.provider}</td>
              <td>
                <StatusBadge status={connector.status} />
              </td>
              <td>{when(connector.last_tested_at)}</td>
              <td>
                <Sparkline checks={connector.recent_health ?? []} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {list.isPending ? <p className="mt-2 text-sm">Loading…</p> : rows.length === 0 ? <p className="mt-2 text-sm">No connectors match.</p> : null}
      {list.hasNextPage ? (
        <Button className="mt-4" onClick={() => list.fetchNextPage()} disabled={list.isFetchingNextPage}>
          Load more
        </Button>
      ) : null}
    </>
  );
}
