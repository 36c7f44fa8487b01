import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useMemo, useRef, useState } from 'react';
import { useForm, type FieldValues } from 'react-hook-form';
import { Link, useLocation, useParams, useSearch } from 'wouter';
import { api, ApiError, errorText, request, type Attachment, type Connector, type Field, type FieldProblem, type TestResult } from '../api';
import {
  applyServerErrors,
  changedConfig,
  ConfigFields,
  connectorResolver,
  fieldId,
  FormErrorSummary,
  initialSecrets,
  initialValues,
  META_ENABLED,
  META_INTERVAL,
  META_NAME,
  summarise,
  useSecrets,
} from '../components/ConnectorForm';
import { TestResultRegion } from '../components/TestResult';
import { Alert, Button, Dialog, inputClass, PageTitle, StatusBadge, when } from '../components/ui';
import { atLeast, useOrg } from '../org';
import { useCatalogue } from './Connectors';

export function ConnectorDetailPage() {
  const { id } = useParams<{ id: string }>();
  // Keyed by id: nothing of one connector's page (a test result above all) survives onto another's.
  return <ConnectorDetail key={id} id={id} />;
}

function useConnector(org: string, id: string) {
  return useQuery({
    queryKey: [org, 'connector', id],
    queryFn: async () => {
      const response = await request<Connector>(`/connectors/${encodeURIComponent(id)}`, { org });
      return response.data;
    },
  });
}

function ConnectorDetail({ id }: { id: string }) {
  const org = useOrg();
  const connector = useConnector(org.slug, id);
  const catalogue = useCatalogue(org.slug);
  const fields = catalogue.data?.data.flatMap((t) => t.providers).find((p) => p.provider === connector.data?.provider)?.fields;
  if (connector.error) {
    return (
      <>
        <PageTitle>Connector</PageTitle>
        <Alert>{errorText(connector.error)}</Alert>
      </>
    );
  }
  if (!connector.data || !fields) return <p>Loading…</p>;
  return <ConnectorView connector={connector.data} fields={fields} />;
}

function ConnectorView({ connector, fields }: { connector: Connector; fields: Field[] }) {
  const org = useOrg();
  const queryClient = useQueryClient();
  const search = useSearch();
  const [, navigate] = useLocation();
  const isAdmin = atLeast(org.role, 'admin');
  const canTest = atLeast(org.role, 'developer');
  const [version, setVersion] = useState(connector.version);
  const { secrets, setSecret, setSecrets } = useSecrets(initialSecrets(fields, connector.config));
  const secretsRef = useRef(secrets);
  secretsRef.current = secrets;
  const resolver = useMemo(() => connectorResolver(() => fields, () => secretsRef.current, true), [fields]);
  const defaults = (c: Connector): FieldValues => ({
    ...initialValues(fields, c.config),
    [META_NAME]: c.name,
    [META_INTERVAL]: String(c.health_check_interval_s),
    [META_ENABLED]: c.enabled,
  });
  const form = useForm<FieldValues>({ defaultValues: defaults(connector), resolver });
  const [serverProblems, setServerProblems] = useState<FieldProblem[]>([]);
  const [failure, setFailure] = useState<string | null>(null);
  const [saved, setSaved] = useState<string>('');
  const [result, setResult] = useState<{ result: TestResult; at: Date } | null>(null);

  const configPatch = () => changedConfig(fields, form.getValues(), form.formState.dirtyFields as Record<string, unknown>, secrets);

  const handleError = (error: unknown) => {
    if (error instanceof ApiError && error.status === 422 && error.errors.length) {
      setServerProblems(applyServerErrors(form, error.errors, fields));
      setFailure(null);
    } else if (error instanceof ApiError && error.status === 409 && error.code === 'conflict') {
      setFailure('Someone changed this connector while you were editing: your changes are kept here. Reload the page to see theirs, then save again.');
    } else {
      setFailure(errorText(error));
    }
  };

  const save = useMutation({
    mutationFn: async (values: FieldValues) => {
      const dirty = form.formState.dirtyFields as Record<string, unknown>;
      const body: Record<string, unknown> = {};
      if (dirty[META_NAME]) body.name = String(values[META_NAME]).trim();
      if (dirty[META_INTERVAL]) body.health_check_interval_s = Number(values[META_INTERVAL]);
      if (dirty[META_ENABLED]) body.enabled = values[META_ENABLED] === true;
      const config = configPatch();
      if (Object.keys(config).length) body.config = config;
      return request<Connector>(`/connectors/${encodeURIComponent(connector.id)}`, { method: 'PUT', body, org: org.slug, headers: { 'if-match': `"${version}"` } });
    },
    onMutate: () => {
      setServerProblems([]);
      setFailure(null);
      setSaved('');
    },
    onSuccess: ({ data }) => {
      setVersion(data.version);
      queryClient.setQueryData([org.slug, 'connector', connector.id], data);
      void queryClient.invalidateQueries({ queryKey: [org.slug, 'connectors'] });
      setSecrets(initialSecrets(fields, data.config));
      form.reset(defaults(data));
      setSaved('Saved.');
    },
    onError: handleError,
  });

  const test = useMutation({
    mutationFn: async () => {
      const draft = configPatch();
      // An edited config is tested as the draft it is (admins only); otherwise the saved connector is.
      if (Object.keys(draft).length && isAdmin) {
        return { result: await api.post<TestResult>(`/connectors/${encodeURIComponent(connector.id)}/test-draft`, { config: draft }, org.slug), saved: false };
      }
      return { result: await api.post<TestResult>(`/connectors/${encodeURIComponent(connector.id)}/test`, {}, org.slug), saved: true };
    },
    onMutate: () => {
      setResult(null);
      setServerProblems([]);
      setFailure(null);
    },
    onSuccess: ({ result: outcome, saved: ofSaved }) => {
      setResult({ result: outcome, at: new Date() });
      if (ofSaved) {
        void queryClient.invalidateQueries({ queryKey: [org.slug, 'connector', connector.id] });
        void queryClient.invalidateQueries({ queryKey: [org.slug, 'connectors'] });
      }
    },
    onError: handleError,
  });

  // "Save and test" arrives here with ?test=1: run the test once, then drop the parameter.
  const autoTested = useRef(false);
  useEffect(() => {
    if (!autoTested.current && new URLSearchParams(search).get('test') === '1' && canTest) {
      autoTested.current = true;
      test.mutate();
      navigate(`/connectors/${connector.id}`, { replace: true });
    }
  }, [search, canTest, test, navigate, connector.id]);

  const current = queryClient.getQueryData<Connector>([org.slug, 'connector', connector.id]) ?? connector;
  const problems = summarise(form.formState.errors, fields, serverProblems);
  const nameError = form.formState.errors[META_NAME];

  return (
    <>
      <PageTitle
        actions={
          <Link href={`/connectors/${connector.id}/health`} className="rounded border border-slate-400 bg-white px-3 py-1.5 text-sm font-medium">
            Health
          </Link>
        }
      >
        {current.name}
      </PageTitle>
      <dl className="mb-6 grid grid-cols-[max-content_1fr] gap-x-6 gap-y-1 text-sm">
        <dt className="font-medium">Status</dt>
        <dd>
          <StatusBadge status={current.status} />
        </dd>
        <dt className="font-medium">Provider</dt>
        <dd>
          {current.provider} ({current.connector_type})
        </dd>
        <dt className="font-medium">Last tested</dt>
        <dd>{when(current.last_tested_at)}</dd>
        <dt className="font-medium">Last error</dt>
        <dd className="whitespace-pre-wrap break-words">{current.last_error ?? 'none'}</dd>
      </dl>

      <form noValidate onSubmit={form.handleSubmit((values) => save.mutate(values))} aria-label="Connector settings">
        <FormErrorSummary problems={problems} />
        {failure ? <Alert>{failure}</Alert> : null}
        <div className="mb-4 grid max-w-2xl gap-4 md:grid-cols-3">
          <div>
            <label htmlFor={fieldId(META_NAME)} className="block text-sm font-medium">
              Name
            </label>
            <input id={fieldId(META_NAME)} {...form.register(META_NAME)} disabled={!isAdmin} autoComplete="off" aria-invalid={nameError ? true : undefined} aria-describedby={nameError ? `${fieldId(META_NAME)}-error` : undefined} className={inputClass} />
            {nameError ? (
              <p id={`${fieldId(META_NAME)}-error`} className="mt-1 text-sm font-medium text-red-800">
                {String(nameError.message)}
              </p>
            ) : null}
          </div>
          <div>
            <label htmlFor={fieldId(META_INTERVAL)} className="block text-sm font-medium">
              Check interval (s)
            </label>
            <input id={fieldId(META_INTERVAL)} inputMode="numeric" {...form.register(META_INTERVAL)} disabled={!isAdmin} className={inputClass} />
          </div>
          <div className="flex items-end gap-2 pb-1">
            <input id={fieldId(META_ENABLED)} type="checkbox" role="switch" {...form.register(META_ENABLED)} disabled={!isAdmin} className="h-4 w-4" />
            <label htmlFor={fieldId(META_ENABLED)} className="text-sm font-medium">
              Enabled
            </label>
          </div>
        </div>
        <ConfigFields form={form} fields={fields} secrets={secrets} setSecret={setSecret} readOnly={!isAdmin} />
        {canTest ? <TestResultRegion result={result?.result ?? null} at={result?.at ?? null} pending={test.isPending} /> : null}
        <div className="flex flex-wrap items-center gap-2">
          {canTest ? (
            <Button disabled={test.isPending || save.isPending} onClick={() => test.mutate()}>
              Test connection
            </Button>
          ) : null}
          {isAdmin ? (
            <Button type="submit" variant="primary" disabled={save.isPending}>
              Save
            </Button>
          ) : null}
          {isAdmin ? <DeleteConnector connector={current} /> : null}
          <span role="status" className="text-sm">
            {saved}
          </span>
        </div>
      </form>
    </>
  );
}

function DeleteConnector({ connector }: { connector: Connector }) {
  const org = useOrg();
  const queryClient = useQueryClient();
  const [, navigate] = useLocation();
  const [open, setOpen] = useState(false);
  const [inUse, setInUse] = useState<Attachment[] | null>(null);
  const [failure, setFailure] = useState<string | null>(null);

  const remove = useMutation({
    mutationFn: (force: boolean) => api.del(`/connectors/${encodeURIComponent(connector.id)}${force ? '?force=true' : ''}`, org.slug),
    onSuccess: async () => {
      setOpen(false);
      queryClient.removeQueries({ queryKey: [org.slug, 'connector', connector.id] });
      await queryClient.invalidateQueries({ queryKey: [org.slug, 'connectors'] });
      navigate('/connectors');
    },
    onError: async (error) => {
      if (error instanceof ApiError && error.code === 'connector_in_use') {
        const attachments = await api.get<{ data: Attachment[] }>(`/connectors/${encodeURIComponent(connector.id)}/attachments`, org.slug);
        setInUse(attachments.data);
      } else {
        setFailure(errorText(error));
      }
    },
  });

  return (
    <>
      <Button variant="danger" onClick={() => { setInUse(null); setFailure(null); setOpen(true); }}>
        Delete
      </Button>
      <Dialog open={open} title={`Delete ${connector.name}?`} onClose={() => setOpen(false)}>
        {failure ? <Alert>{failure}</Alert> : null}
        {inUse ? (
          <>
            <p className="mb-2 text-sm">It is attached to these agents; deleting it detaches them too:</p>
            <ul className="mb-4 list-disc pl-5 text-sm">
              {inUse.map((a) => (
                <li key={a.id}>
                  {a.agent_id} as {a.alias}
                </li>
              ))}
            </ul>
          </>
        ) : (
          <p className="mb-4 text-sm">The connector and its health history are deleted. This cannot be undone.</p>
        )}
        <div className="flex gap-2">
          <Button variant="danger" disabled={remove.isPending} onClick={() => remove.mutate(inUse !== null)}>
            {inUse ? 'Delete connector and attachments' : 'Delete connector'}
          </Button>
          <Button onClick={() => setOpen(false)}>Cancel</Button>
        </div>
      </Dialog>
    </>
  );
}
