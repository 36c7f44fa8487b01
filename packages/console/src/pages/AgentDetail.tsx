import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useId, useState, type FormEvent } from 'react';
import { useParams } from 'wouter';
import { api, errorText, type Attachment, type Connector, type Credential, type Page } from '../api';
import { Alert, Button, ConfirmButton, Dialog, inputClass, PageTitle, SecretOnce, StatusBadge, tableClass, when } from '../components/ui';
import { atLeast, useOrg } from '../org';
import type { Agent } from './Agents';

const ALIAS = /^[a-z][a-z0-9_]{0,39}$/;

export function AgentDetailPage() {
  const { id } = useParams<{ id: string }>();
  return <AgentDetail key={id} id={id} />;
}

function AgentDetail({ id }: { id: string }) {
  const org = useOrg();
  const agent = useQuery({ queryKey: [org.slug, 'agent', id], queryFn: () => api.get<Agent>(`/agents/${encodeURIComponent(id)}`, org.slug) });
  if (agent.error) {
    return (
      <>
        <PageTitle>Agent</PageTitle>
        <Alert>{errorText(agent.error)}</Alert>
      </>
    );
  }
  if (!agent.data) return <p>Loading…</p>;
  return (
    <>
      <PageTitle>Agent {agent.data.id}</PageTitle>
      {agent.data.name ? <p className="mb-4">{agent.data.name}</p> : null}
      <Attachments agentId={id} />
      <Tokens agentId={id} />
    </>
  );
}

function Attachments({ agentId }: { agentId: string }) {
  const org = useOrg();
  const queryClient = useQueryClient();
  const key = [org.slug, 'agent', agentId, 'attachments'];
  const attachments = useQuery({ queryKey: key, queryFn: () => api.get<{ data: Attachment[] }>(`/agents/${encodeURIComponent(agentId)}/connectors`, org.slug) });
  const connectors = useQuery({ queryKey: [org.slug, 'connectors', 'all'], queryFn: () => api.get<Page<Connector>>('/connectors?limit=200', org.slug) });
  const [failure, setFailure] = useState<string | null>(null);
  const [aliasError, setAliasError] = useState<string | null>(null);
  const [editing, setEditing] = useState<Attachment | null>(null);
  const canWrite = atLeast(org.role, 'developer');
  const isAdmin = atLeast(org.role, 'admin');
  const connectorId = useId();
  const aliasId = useId();
  const modeId = useId();
  const refresh = () => queryClient.invalidateQueries({ queryKey: key });

  const attach = useMutation({
    mutationFn: (body: { connector: string; alias: string; mode: string }) =>
      api.post(`/connectors/${encodeURIComponent(body.connector)}/attach`, { agent_id: agentId, alias: body.alias, mode: body.mode }, org.slug),
    onSuccess: refresh,
    onError: (error) => setFailure(errorText(error)),
  });
  const patch = useMutation({
    mutationFn: ({ instance, mode }: { instance: string; mode: string }) => api.patch(`/connectors/instances/${encodeURIComponent(instance)}`, { mode }, org.slug),
    onSuccess: refresh,
    onError: (error) => setFailure(errorText(error)),
  });
  const detach = useMutation({
    mutationFn: (instance: string) => api.del(`/connectors/instances/${encodeURIComponent(instance)}`, org.slug),
    onSuccess: refresh,
    onError: (error) => setFailure(errorText(error)),
  });

  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    setFailure(null);
    const data = new FormData(event.currentTarget);
    const alias = String(data.get('alias') ?? '').trim();
    if (!ALIAS.test(alias) || alias.includes('__')) {
      setAliasError('a lower-case letter, then letters, digits or single underscores, up to 40');
      return;
    }
    setAliasError(null);
    attach.mutate({ connector: String(data.get('connector')), alias, mode: String(data.get('mode') ?? 'read') });
  };

  return (
    <section aria-labelledby="attachments-heading" className="mb-8">
      <h2 id="attachments-heading" className="mb-2 text-xl font-semibold">
        Attachments
      </h2>
      {failure ? <Alert>{failure}</Alert> : null}
      <table className={tableClass}>
        <thead>
          <tr>
            <th scope="col">Alias</th>
            <th scope="col">Connector</th>
            <th scope="col">Status</th>
            <th scope="col">Mode</th>
            <th scope="col">Limits</th>
            {canWrite ? <th scope="col">Actions</th> : null}
          </tr>
        </thead>
        <tbody>
          {(attachments.data?.data ?? []).map((a) => (
            <tr key={a.id}>
              <td className="font-mono">
                {a.alias}
                {a.valid === false ? <span className="block font-sans text-xs text-red-800">Not valid: {a.reason}</span> : null}
              </td>
              <td>
                {a.connector.name} ({a.connector.provider})
              </td>
              <td>
                <StatusBadge status={a.status} />
              </td>
              <td>
                {canWrite ? (
                  <select
                    aria-label={`Mode of ${a.alias}`}
                    className="rounded border border-slate-500 px-1"
                    value={a.mode}
                    onChange={(e) => patch.mutate({ instance: a.id, mode: e.target.value })}
                  >
                    <option value="read">read</option>
                    <option value="read_write" disabled={!isAdmin}>
                      read_write
                    </option>
                  </select>
                ) : (
                  a.mode
                )}
              </td>
              <td className="text-xs">
                rows {a.effective_limits.max_rows}, timeout {a.effective_limits.timeout_ms} ms
                {a.effective_limits.rate_per_minute ? `, ${a.effective_limits.rate_per_minute}/min` : ''}
              </td>
              {canWrite ? (
                <td className="flex gap-2">
                  <Button onClick={() => setEditing(a)} aria-label={`Edit ${a.alias}`}>
                    Edit
                  </Button>
                  <ConfirmButton label={`Detach ${a.alias}`} title={`Detach ${a.alias}?`} message="The agent loses this connector's tools at once." confirmLabel="Detach" onConfirm={() => detach.mutate(a.id)} />
                </td>
              ) : null}
            </tr>
          ))}
        </tbody>
      </table>
      {attachments.data?.data.length === 0 ? <p className="mt-2 text-sm">No connectors attached.</p> : null}
      <EditAttachment attachment={editing} onClose={() => setEditing(null)} onSaved={refresh} />
      {canWrite ? (
        <form onSubmit={submit} noValidate className="mt-4 flex flex-wrap items-end gap-4" aria-label="Attach a connector">
          <div>
            <label htmlFor={connectorId} className="block text-sm font-medium">
              Connector
            </label>
            <select id={connectorId} name="connector" className={inputClass} required>
              {(connectors.data?.data ?? []).map((c) => (
                <option key={c.id} value={c.id}>
                  {c.name} ({c.provider})
                </option>
              ))}
            </select>
          </div>
          <div>
            <label htmlFor={aliasId} className="block text-sm font-medium">
              Alias
            </label>
            <input id={aliasId} name="alias" autoComplete="off" className={inputClass} aria-invalid={aliasError ? true : undefined} aria-describedby={aliasError ? `${aliasId}-error` : undefined} />
            {aliasError ? (
              <p id={`${aliasId}-error`} className="mt-1 text-sm font-medium text-red-800">
                {aliasError}
              </p>
            ) : null}
          </div>
          <div>
            <label htmlFor={modeId} className="block text-sm font-medium">
              Mode
            </label>
            <select id={modeId} name="mode" className={inputClass} defaultValue="read">
              <option value="read">read</option>
              {isAdmin ? <option value="read_write">read_write</option> : null}
            </select>
          </div>
          <Button type="submit" variant="primary" disabled={attach.isPending || !connectors.data?.data.length}>
            Attach
          </Button>
        </form>
      ) : null}
    </section>
  );
}

function Tokens({ agentId }: { agentId: string }) {
  const org = useOrg();
  const queryClient = useQueryClient();
  const key = [org.slug, 'agent', agentId, 'tokens'];
  const tokens = useQuery({ queryKey: key, queryFn: () => api.get<{ data: Credential[] }>(`/agents/${encodeURIComponent(agentId)}/tokens`, org.slug), enabled: atLeast(org.role, 'developer') });
  const [issued, setIssued] = useState<string | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const canWrite = atLeast(org.role, 'developer');

  // The token goes straight into component state for the dialog, never into the query cache.
  const issue = useMutation({
    mutationFn: () => api.post<{ token: string }>(`/agents/${encodeURIComponent(agentId)}/tokens`, {}, org.slug),
    onSuccess: (data) => {
      setIssued(data.token);
      void queryClient.invalidateQueries({ queryKey: key });
    },
    onError: (error) => setFailure(errorText(error)),
  });
  const revoke = useMutation({
    mutationFn: (tokenId: string) => api.del(`/agents/${encodeURIComponent(agentId)}/tokens/${encodeURIComponent(tokenId)}`, org.slug),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: key }),
    onError: (error) => setFailure(errorText(error)),
  });
  if (!canWrite) return null;

  return (
    <section aria-labelledby="tokens-heading">
      <div className="mb-2 flex items-center justify-between">
        <h2 id="tokens-heading" className="text-xl font-semibold">
          Tokens
        </h2>
        <Button variant="primary" onClick={() => issue.mutate()} disabled={issue.isPending}>
          Issue token
        </Button>
      </div>
      {failure ? <Alert>{failure}</Alert> : null}
      <table className={tableClass}>
        <thead>
          <tr>
            <th scope="col">Prefix</th>
            <th scope="col">Created</th>
            <th scope="col">Last used</th>
            <th scope="col">State</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          {(tokens.data?.data ?? []).map((t) => (
            <tr key={t.id}>
              <td className="font-mono">{t.prefix}…</td>
              <td>{when(t.created_at)}</td>
              <td>{when(t.last_used_at)}</td>
              <td>{t.revoked_at ? `revoked ${when(t.revoked_at)}` : 'active'}</td>
              <td>{t.revoked_at ? null : <ConfirmButton label={`Revoke token ${t.prefix}`} title="Revoke this token?" message="The agent using it is refused at once." confirmLabel="Revoke" onConfirm={() => revoke.mutate(t.id)} />}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <SecretOnce title="New agent token" secret={issued} onClose={() => setIssued(null)} />
    </section>
  );
}

const LIMIT_FIELDS = [
  { name: 'max_rows', label: 'Max rows' },
  { name: 'timeout_ms', label: 'Timeout (ms)' },
  { name: 'max_bytes', label: 'Max bytes' },
  { name: 'rate_per_minute', label: 'Calls per minute' },
] as const;

/**
 * Edits an attachment's alias and limits. Only what changed is sent, so the server's role rules (a developer may
 * only narrow) judge exactly the user's edit; its refusal is shown in the dialog and the input is kept.
 */
function EditAttachment({ attachment, onClose, onSaved }: { attachment: Attachment | null; onClose: () => void; onSaved: () => void }) {
  const org = useOrg();
  const [failure, setFailure] = useState<string | null>(null);
  const aliasId = useId();
  const limitIds = useId();
  const save = useMutation({
    mutationFn: (body: Record<string, unknown>) => api.patch(`/connectors/instances/${encodeURIComponent(attachment?.id ?? '')}`, body, org.slug),
    onSuccess: () => {
      onSaved();
      onClose();
    },
    onError: (error) => setFailure(errorText(error)),
  });
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    if (!attachment) return;
    setFailure(null);
    const data = new FormData(event.currentTarget);
    const body: Record<string, unknown> = {};
    const alias = String(data.get('alias') ?? '').trim();
    if (alias !== attachment.alias) {
      if (!ALIAS.test(alias) || alias.includes('__')) {
        setFailure('Alias: a lower-case letter, then letters, digits or single underscores, up to 40');
        return;
      }
      body.alias = alias;
    }
    const limits: Record<string, number> = {};
    for (const { name } of LIMIT_FIELDS) {
      const text = String(data.get(name) ?? '').trim();
      const before = attachment.effective_limits[name];
      if (text === '' || Number(text) === before) continue;
      const value = Number(text);
      if (!Number.isInteger(value) || value < 1) {
        setFailure(`${name}: a whole number of at least 1`);
        return;
      }
      limits[name] = value;
    }
    if (Object.keys(limits).length) body.limits = { ...attachment.limits, ...limits };
    if (Object.keys(body).length === 0) {
      onClose();
      return;
    }
    save.mutate(body);
  };
  return (
    <Dialog open={attachment !== null} title={`Edit ${attachment?.alias ?? ''}`} onClose={() => { setFailure(null); onClose(); }}>
      {attachment ? (
        <form onSubmit={submit} noValidate>
          {failure ? <Alert>{failure}</Alert> : null}
          <label htmlFor={aliasId} className="block text-sm font-medium">
            Alias
          </label>
          <input id={aliasId} name="alias" defaultValue={attachment.alias} autoComplete="off" className={`${inputClass} mb-3 font-mono`} />
          {LIMIT_FIELDS.map(({ name, label }) => (
            <div key={name} className="mb-3">
              <label htmlFor={`${limitIds}-${name}`} className="block text-sm font-medium">
                {label}
              </label>
              <input
                id={`${limitIds}-${name}`}
                name={name}
                inputMode="numeric"
                defaultValue={attachment.effective_limits[name] ?? ''}
                autoComplete="off"
                className={inputClass}
              />
            </div>
          ))}
          <div className="flex gap-2">
            <Button type="submit" variant="primary" disabled={save.isPending}>
              Save
            </Button>
            <Button onClick={() => { setFailure(null); onClose(); }}>Cancel</Button>
          </div>
        </form>
      ) : null}
    </Dialog>
  );
}
