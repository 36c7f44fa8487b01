import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useId, useState, type FormEvent } from 'react';
import { Link } from 'wouter';
import { api, errorText, type Page } from '../api';
import { Alert, Button, ConfirmButton, inputClass, PageTitle, tableClass, when } from '../components/ui';
import { atLeast, useOrg } from '../org';

export interface Agent {
  id: string;
  name: string | null;
  description: string | null;
  created_at: string;
}

export function AgentsPage() {
  const org = useOrg();
  const queryClient = useQueryClient();
  const agents = useQuery({ queryKey: [org.slug, 'agents'], queryFn: () => api.get<Page<Agent>>('/agents?limit=200', org.slug) });
  const [failure, setFailure] = useState<string | null>(null);
  const idId = useId();
  const nameId = useId();
  const canWrite = atLeast(org.role, 'developer');

  const create = useMutation({
    mutationFn: (body: { id?: string; name?: string }) => api.post<Agent>('/agents', body, org.slug),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: [org.slug, 'agents'] }),
    onError: (error) => setFailure(errorText(error)),
  });
  const remove = useMutation({
    mutationFn: (id: string) => api.del(`/agents/${encodeURIComponent(id)}`, org.slug),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: [org.slug, 'agents'] }),
    onError: (error) => setFailure(errorText(error)),
  });

  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    setFailure(null);
    const data = new FormData(event.currentTarget);
    const id = String(data.get('id') ?? '').trim();
    const name = String(data.get('name') ?? '').trim();
    create.mutate({ ...(id ? { id } : {}), ...(name ? { name } : {}) }, { onSuccess: () => (event.target as HTMLFormElement).reset() });
  };

  return (
    <>
      <PageTitle>Agents</PageTitle>
      {failure ? <Alert>{failure}</Alert> : null}
      {canWrite ? (
        <form onSubmit={submit} className="mb-6 flex flex-wrap items-end gap-4" aria-label="New agent">
          <div>
            <label htmlFor={idId} className="block text-sm font-medium">
              Agent ID
            </label>
            <input id={idId} name="id" autoComplete="off" placeholder="e.g. agent-123" className={inputClass} />
          </div>
          <div>
            <label htmlFor={nameId} className="block text-sm font-medium">
              Agent name
            </label>
            <input id={nameId} name="name" autoComplete="off" className={inputClass} />
          </div>
          <Button type="submit" variant="primary" disabled={create.isPending}>
            Create agent
          </Button>
        </form>
      ) : null}
      <table className={tableClass}>
        <caption className="sr-only">Agents</caption>
        <thead>
          <tr>
            <th scope="col">Agent</th>
            <th scope="col">Name</th>
            <th scope="col">Created</th>
            {canWrite ? <th scope="col">Actions</th> : null}
          </tr>
        </thead>
        <tbody>
          {(agents.data?.data ?? []).map((agent) => (
            <tr key={agent.id}>
              <td>
                <Link href={`/agents/${agent.id}`} className="font-medium text-blue-800 underline">
                  {agent.id}
                </Link>
              </td>
              <td>{agent.name ?? ''}</td>
              <td>{when(agent.created_at)}</td>
              {canWrite ? (
                <td>
                  <ConfirmButton
                    label={`Delete agent ${agent.id}`}
                    title={`Delete agent ${agent.id}?`}
                    message="Its attachments and tokens go with it. This cannot be undone."
                    confirmLabel="Delete agent"
                    busy={remove.isPending}
                    onConfirm={() => remove.mutate(agent.id)}
                  />
                </td>
              ) : null}
            </tr>
          ))}
        </tbody>
      </table>
      {agents.error ? <Alert>{errorText(agents.error)}</Alert> : null}
    </>
  );
}
