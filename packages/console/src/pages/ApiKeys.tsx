import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useId, useState, type FormEvent } from 'react';
import { api, errorText, type Credential } from '../api';
import { Alert, Button, ConfirmButton, inputClass, PageTitle, SecretOnce, tableClass, when } from '../components/ui';

/** The signed-in user's own API keys. */
export function ApiKeysPage() {
  const queryClient = useQueryClient();
  const keys = useQuery({ queryKey: ['api-keys'], queryFn: () => api.get<{ data: Credential[] }>('/api-keys') });
  const [issued, setIssued] = useState<string | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const nameId = useId();
  const refresh = () => queryClient.invalidateQueries({ queryKey: ['api-keys'] });

  const create = useMutation({
    mutationFn: (name: string) => api.post<{ key: string }>('/api-keys', name ? { name } : {}),
    onSuccess: (data) => {
      setIssued(data.key);
      void refresh();
    },
    onError: (error) => setFailure(errorText(error)),
  });
  const revoke = useMutation({
    mutationFn: (id: string) => api.del(`/api-keys/${encodeURIComponent(id)}`),
    onSuccess: refresh,
    onError: (error) => setFailure(errorText(error)),
  });

  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    setFailure(null);
    const form = event.currentTarget;
    create.mutate(String(new FormData(form).get('name') ?? '').trim(), { onSuccess: () => form.reset() });
  };

  return (
    <>
      <PageTitle>API keys</PageTitle>
      {failure ? <Alert>{failure}</Alert> : null}
      <form onSubmit={submit} className="mb-6 flex items-end gap-4" aria-label="New API key">
        <div>
          <label htmlFor={nameId} className="block text-sm font-medium">
            Key name
          </label>
          <input id={nameId} name="name" autoComplete="off" className={inputClass} />
        </div>
        <Button type="submit" variant="primary" disabled={create.isPending}>
          Create API key
        </Button>
      </form>
      <table className={tableClass}>
        <caption className="sr-only">Your API keys</caption>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Prefix</th>
            <th scope="col">Created</th>
            <th scope="col">Last used</th>
            <th scope="col">State</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          {(keys.data?.data ?? []).map((k) => (
            <tr key={k.id}>
              <td>{k.name ?? ''}</td>
              <td className="font-mono">{k.prefix}…</td>
              <td>{when(k.created_at)}</td>
              <td>{when(k.last_used_at)}</td>
              <td>{k.revoked_at ? `revoked ${when(k.revoked_at)}` : k.expires_at ? `expires ${when(k.expires_at)}` : 'active'}</td>
              <td>
                {k.revoked_at ? null : (
                  <ConfirmButton label={`Revoke key ${k.prefix}`} title="Revoke this API key?" message="Everything using it, console sessions included, is refused at once." confirmLabel="Revoke" onConfirm={() => revoke.mutate(k.id)} />
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <SecretOnce title="New API key" secret={issued} onClose={() => setIssued(null)} />
    </>
  );
}
