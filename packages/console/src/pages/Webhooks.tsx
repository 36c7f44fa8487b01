import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useId, useState, type FormEvent } from 'react';
import { api, ApiError, errorText, type Page } from '../api';
import { Alert, Button, ConfirmButton, inputClass, PageTitle, tableClass, when } from '../components/ui';
import { atLeast, useOrg } from '../org';

interface Webhook {
  id: string;
  url: string;
  events: string[];
  enabled: boolean;
  disabled_reason: string | null;
  consecutive_failures: number;
}
interface Delivery {
  id: string;
  event: string;
  status: string;
  attempts: number;
  last_status_code: number | null;
  last_error: string | null;
  created_at: string;
}

const EVENTS = ['connector.failing', 'connector.recovered', 'connector.deleted', 'connector.credentials_rotated'];

/** Webhooks (admins): the signing secret shows only as "configured"; deliveries per webhook. */
export function WebhooksPage() {
  const org = useOrg();
  const queryClient = useQueryClient();
  const isAdmin = atLeast(org.role, 'admin');
  const hooks = useQuery({ queryKey: [org.slug, 'webhooks'], queryFn: () => api.get<Page<Webhook>>('/webhooks', org.slug), enabled: isAdmin });
  const [failure, setFailure] = useState<string | null>(null);
  const [shown, setShown] = useState<string | null>(null);
  const urlId = useId();
  const secretId = useId();
  const refresh = () => queryClient.invalidateQueries({ queryKey: [org.slug, 'webhooks'] });

  const create = useMutation({
    mutationFn: (body: { url: string; events: string[]; secret: string }) => api.post('/webhooks', body, org.slug),
    onSuccess: refresh,
    onError: (error) => setFailure(error instanceof ApiError && error.errors.length ? error.errors.map((e) => `${e.path}: ${e.message}`).join('; ') : errorText(error)),
  });
  const remove = useMutation({
    mutationFn: (id: string) => api.del(`/webhooks/${encodeURIComponent(id)}`, org.slug),
    onSuccess: refresh,
    onError: (error) => setFailure(errorText(error)),
  });

  if (!isAdmin) {
    return (
      <>
        <PageTitle>Webhooks</PageTitle>
        <p>Only admins manage webhooks.</p>
      </>
    );
  }

  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    setFailure(null);
    const form = event.currentTarget;
    const data = new FormData(form);
    create.mutate(
      { url: String(data.get('url') ?? '').trim(), events: data.getAll('events').map(String), secret: String(data.get('secret') ?? '') },
      { onSuccess: () => form.reset() },
    );
  };

  return (
    <>
      <PageTitle>Webhooks</PageTitle>
      {failure ? <Alert>{failure}</Alert> : null}
      <form onSubmit={submit} noValidate className="mb-6 grid max-w-2xl gap-4" aria-label="New webhook">
        <div>
          <label htmlFor={urlId} className="block text-sm font-medium">
            URL
          </label>
          <input id={urlId} name="url" autoComplete="off" className={inputClass} />
        </div>
        <fieldset>
          <legend className="text-sm font-medium">Events</legend>
          {EVENTS.map((event) => (
            <label key={event} className="mr-4 inline-flex items-center gap-1 text-sm">
              <input type="checkbox" name="events" value={event} /> {event}
            </label>
          ))}
        </fieldset>
        <div>
          <label htmlFor={secretId} className="block text-sm font-medium">
            Signing secret
          </label>
          <input id={secretId} name="secret" type="password" autoComplete="new-password" className={inputClass} />
        </div>
        <div>
          <Button type="submit" variant="primary" disabled={create.isPending}>
            Create webhook
          </Button>
        </div>
      </form>
      <table className={tableClass}>
        <caption className="sr-only">Webhooks</caption>
        <thead>
          <tr>
            <th scope="col">URL</th>
            <th scope="col">Events</th>
            <th scope="col">Secret</th>
            <th scope="col">State</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          {(hooks.data?.data ?? []).map((h) => (
            <tr key={h.id}>
              <td className="break-all">{h.url}</td>
              <td className="text-xs">{h.events.join(', ')}</td>
              <td>configured</td>
              <td>{h.enabled ? 'enabled' : `disabled${h.disabled_reason ? ` (${h.disabled_reason})` : ''}`}</td>
              <td className="flex gap-2">
                <Button onClick={() => setShown(shown === h.id ? null : h.id)} aria-expanded={shown === h.id}>
                  Deliveries
                </Button>
                <ConfirmButton label={`Delete webhook ${h.url}`} title="Delete this webhook?" message="Pending deliveries are dropped." confirmLabel="Delete webhook" onConfirm={() => remove.mutate(h.id)} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {shown ? <Deliveries webhookId={shown} /> : null}
    </>
  );
}

function Deliveries({ webhookId }: { webhookId: string }) {
  const org = useOrg();
  const deliveries = useQuery({ queryKey: [org.slug, 'webhooks', webhookId, 'deliveries'], queryFn: () => api.get<Page<Delivery>>(`/webhooks/${encodeURIComponent(webhookId)}/deliveries`, org.slug) });
  return (
    <section aria-labelledby="deliveries-heading" className="mt-6">
      <h2 id="deliveries-heading" className="mb-2 text-xl font-semibold">
        Deliveries
      </h2>
      <table className={tableClass}>
        <thead>
          <tr>
            <th scope="col">When</th>
            <th scope="col">Event</th>
            <th scope="col">Status</th>
            <th scope="col">Attempts</th>
            <th scope="col">Last answer</th>
          </tr>
        </thead>
        <tbody>
          {(deliveries.data?.data ?? []).map((d) => (
            <tr key={d.id}>
              <td>{when(d.created_at)}</td>
              <td>{d.event}</td>
              <td>{d.status}</td>
              <td>{d.attempts}</td>
              <td>{d.last_status_code ?? d.last_error ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {deliveries.data?.data.length === 0 ? <p className="mt-2 text-sm">No deliveries yet.</p> : null}
    </section>
  );
}
