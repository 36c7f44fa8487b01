import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, type ReactNode } from 'react';
import { Link, Redirect, Route, Switch, useLocation, useParams } from 'wouter';
import { api, ApiError, setUnauthenticatedHandler, type Me } from './api';
import { Button } from './components/ui';
import { abs, OrgContext, useOrg } from './org';
import { AgentDetailPage } from './pages/AgentDetail';
import { AgentsPage } from './pages/Agents';
import { ApiKeysPage } from './pages/ApiKeys';
import { AuditPage } from './pages/Audit';
import { ConnectorDetailPage } from './pages/ConnectorDetail';
import { ConnectorsPage } from './pages/Connectors';
import { HealthPage } from './pages/Health';
import { LoginPage } from './pages/Login';
import { MembersPage } from './pages/Members';
import { NewConnectorPage } from './pages/NewConnector';
import { RegistryPage } from './pages/Registry';
import { WebhooksPage } from './pages/Webhooks';

export function App() {
  const queryClient = useQueryClient();
  // Signed out is an answer (null), not an error.
  const me = useQuery({
    queryKey: ['me'],
    queryFn: () =>
      api.get<Me>('/me').catch((error: unknown) => {
        if (error instanceof ApiError && error.status === 401) return null;
        throw error;
      }),
  });

  useEffect(() => {
    // A session that ends under the user's feet (expired, key revoked): drop every cached answer, sign in again.
    setUnauthenticatedHandler(() => {
      queryClient.removeQueries({ predicate: (query) => query.queryKey[0] !== 'me' });
      queryClient.setQueryData(['me'], null);
    });
  }, [queryClient]);

  if (me.isPending) return <p className="p-6">Loading…</p>;
  if (me.error) return <p className="p-6" role="alert">The console could not reach the server; reload the page.</p>;
  const signedIn = Boolean(me.data);

  return (
    <Switch>
      <Route path="/login">{signedIn ? <Redirect to={home(me.data)} /> : <LoginPage />}</Route>
      {!signedIn ? <Redirect to="/login" /> : null}
      <Route path="/api-keys">
        <Shell me={me.data as Me}>
          <ApiKeysPage />
        </Shell>
      </Route>
      <Route path="/registry">
        <Shell me={me.data as Me}>
          <RegistryPage />
        </Shell>
      </Route>
      <Route path="/o/:org" nest>
        <OrgRoutes me={me.data as Me} />
      </Route>
      <Route>
        <Redirect to={home(me.data)} />
      </Route>
    </Switch>
  );
}

const home = (me: Me | null | undefined) => (me?.organizations[0] ? `/o/${me.organizations[0].slug}/connectors` : '/api-keys');

function OrgRoutes({ me }: { me: Me }) {
  const { org } = useParams<{ org: string }>();
  const membership = me.organizations.find((o) => o.slug === org || o.id === org);
  if (!membership) {
    return (
      <Shell me={me}>
        <h1 className="text-2xl font-semibold">No such organization</h1>
      </Shell>
    );
  }
  return (
    <OrgContext.Provider value={{ slug: membership.slug, role: membership.role, name: membership.name }}>
      <Shell me={me}>
        <Switch>
          <Route path="/connectors" component={ConnectorsPage} />
          <Route path="/connectors/new" component={NewConnectorPage} />
          <Route path="/connectors/:id/health" component={HealthPage} />
          <Route path="/connectors/:id" component={ConnectorDetailPage} />
          <Route path="/agents" component={AgentsPage} />
          <Route path="/agents/:id" component={AgentDetailPage} />
          <Route path="/members" component={MembersPage} />
          <Route path="/audit" component={AuditPage} />
          <Route path="/webhooks" component={WebhooksPage} />
          <Route>
            <Redirect to="/connectors" />
          </Route>
        </Switch>
      </Shell>
    </OrgContext.Provider>
  );
}

function Shell({ me, children }: { me: Me; children: ReactNode }) {
  const queryClient = useQueryClient();
  const [location, navigate] = useLocation();
  const org = useOrg(true);
  const slug = org?.slug ?? me.organizations[0]?.slug;
  const signOut = async () => {
    await api.del('/sessions/current').catch(() => undefined);
    queryClient.removeQueries({ predicate: (query) => query.queryKey[0] !== 'me' });
    queryClient.setQueryData(['me'], null);
    navigate(abs('/login'));
  };
  const links: [string, string][] = slug
    ? [
        ['Connectors', `/o/${slug}/connectors`],
        ['Agents', `/o/${slug}/agents`],
        ['Members', `/o/${slug}/members`],
        ['API keys', '/api-keys'],
        ['Audit', `/o/${slug}/audit`],
        ['Webhooks', `/o/${slug}/webhooks`],
      ]
    : [['API keys', '/api-keys']];
  if (me.operator) links.push(['Registry', '/registry']);
  void location;
  return (
    <div className="min-h-screen">
      <header className="border-b border-slate-300 bg-white">
        <div className="mx-auto flex max-w-6xl flex-wrap items-center gap-4 px-4 py-3">
          <span className="font-bold">Patchbay</span>
          <nav aria-label="Main">
            <ul className="flex flex-wrap gap-3 text-sm">
              {links.map(([label, href]) => {
                const current = window.location.pathname.startsWith(`/console${href}`);
                return (
                  <li key={label}>
                    <Link href={abs(href)} aria-current={current ? 'page' : undefined} className={`underline-offset-4 hover:underline ${current ? 'font-semibold underline' : ''}`}>
                      {label}
                    </Link>
                  </li>
                );
              })}
            </ul>
          </nav>
          <div className="ml-auto flex items-center gap-3 text-sm">
            {me.organizations.length > 1 ? (
              <OrgSwitcher me={me} current={slug} />
            ) : org ? (
              <span>{org.name}</span>
            ) : null}
            <span>{me.user.email}</span>
            <Button onClick={signOut}>Sign out</Button>
          </div>
        </div>
      </header>
      <main className="mx-auto max-w-6xl px-4 py-6">{children}</main>
    </div>
  );
}

function OrgSwitcher({ me, current }: { me: Me; current: string | undefined }) {
  const [, navigate] = useLocation();
  return (
    <label className="flex items-center gap-1">
      Organization
      <select className="rounded border border-slate-500 px-1" value={current} onChange={(e) => navigate(abs(`/o/${e.target.value}/connectors`))}>
        {me.organizations.map((o) => (
          <option key={o.id} value={o.slug}>
            {o.name}
          </option>
        ))}
      </select>
    </label>
  );
}
