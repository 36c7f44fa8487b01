import { useQueryClient } from '@tanstack/react-query';
import { useId, useState, type FormEvent } from 'react';
import { useLocation } from 'wouter';
import { api, ApiError, type Me } from '../api';
import { Alert, Button, inputClass } from '../components/ui';
import { abs } from '../org';

/** The API key is posted once and never kept: the server answers with an HttpOnly cookie this code never sees. */
export function LoginPage() {
  const queryClient = useQueryClient();
  const [, navigate] = useLocation();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const id = useId();

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = event.currentTarget;
    const input = form.elements.namedItem('api_key') as HTMLInputElement;
    setBusy(true);
    setError(null);
    try {
      const me = await api.post<Me>('/sessions', { api_key: input.value });
      input.value = '';
      queryClient.setQueryData(['me'], me);
      const first = me.organizations[0];
      navigate(abs(first ? `/o/${first.slug}/connectors` : '/api-keys'));
    } catch (caught) {
      input.value = '';
      setError(caught instanceof ApiError && caught.status === 401 ? 'That API key is unknown, revoked or expired.' : 'Signing in failed; try again.');
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="mx-auto mt-24 max-w-sm rounded-lg border border-slate-300 bg-white p-6 shadow">
      <h1 className="mb-4 text-2xl font-semibold">Sign in to Patchbay</h1>
      {error ? <Alert>{error}</Alert> : null}
      <form onSubmit={submit} noValidate>
        <label htmlFor={id} className="mb-1 block text-sm font-medium">
          API key
        </label>
        <input id={id} name="api_key" type="password" autoComplete="off" required className={`${inputClass} mb-4`} />
        <Button type="submit" variant="primary" disabled={busy}>
          Sign in
        </Button>
      </form>
      <p className="mt-4 text-sm text-slate-700">The first start of the server prints an admin key; any of your API keys works.</p>
    </main>
  );
}
