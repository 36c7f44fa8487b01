import { useQuery } from '@tanstack/react-query';
import { api, errorText } from '../api';
import { Alert, PageTitle, tableClass } from '../components/ui';

interface RegistryClass {
  uuid: string;
  name: string;
  version: number;
  available: boolean;
}

/** The PolicySynth registry, read-only here: operators change it through the API. */
export function RegistryPage() {
  const registry = useQuery({ queryKey: ['registry'], queryFn: () => api.get<{ agent_classes: RegistryClass[]; connector_classes: RegistryClass[] }>('/registry') });
  return (
    <>
      <PageTitle>Registry</PageTitle>
      {registry.error ? <Alert>{errorText(registry.error)}</Alert> : null}
      {(['agent_classes', 'connector_classes'] as const).map((kind) => (
        <table key={kind} className={`${tableClass} mb-6`}>
          <caption className="mb-2 text-left font-semibold">{kind === 'agent_classes' ? 'Agent classes' : 'Connector classes'}</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Version</th>
              <th scope="col">Available</th>
            </tr>
          </thead>
          <tbody>
            {(registry.data?.[kind] ?? []).map((c) => (
              <tr key={c.uuid}>
                <td>{c.name}</td>
                <td>{c.version}</td>
                <td>{c.available ? 'yes' : 'no'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ))}
    </>
  );
}
