import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useId, useState, type FormEvent } from 'react';
import { api, errorText, type Role } from '../api';
import { Alert, Button, ConfirmButton, inputClass, PageTitle, SecretOnce, tableClass, when } from '../components/ui';
import { atLeast, useOrg } from '../org';

interface Member {
  user_id: string;
  email: string;
  name: string | null;
  role: Role;
  created_at: string;
}

interface Invitation {
  id: string;
  email: string;
  role: Role;
  status: 'pending' | 'accepted' | 'declined' | 'revoked' | 'expired';
  expires_at: string;
}

/**
 * The organisation's members; admins invite (the one-time invitation token is shown once, to pass on), see and
 * revoke open invitations, change roles and remove members.
 */
export function MembersPage() {
  const org = useOrg();
  const queryClient = useQueryClient();
  const key = [org.slug, 'members'];
  const members = useQuery({ queryKey: key, queryFn: () => api.get<{ data: Member[] }>('/members', org.slug) });
  const [failure, setFailure] = useState<string | null>(null);
  const [issuedToken, setIssuedToken] = useState<string | null>(null);
  const isAdmin = atLeast(org.role, 'admin');
  const emailId = useId();
  const roleId = useId();
  const invitationsKey = [org.slug, 'invitations'];
  const invitations = useQuery({
    queryKey: invitationsKey,
    queryFn: () => api.get<{ data: Invitation[] }>('/members/invitations', org.slug),
    enabled: isAdmin,
  });
  const refresh = () => queryClient.invalidateQueries({ queryKey: key });
  const refreshInvitations = () => queryClient.invalidateQueries({ queryKey: invitationsKey });

  const add = useMutation({
    mutationFn: (body: { email: string; role: string }) => api.post<{ token: string }>('/members', body, org.slug),
    onSuccess: (data) => {
      setIssuedToken(data.token);
      void refreshInvitations();
    },
    onError: (error) => setFailure(errorText(error)),
  });
  const revoke = useMutation({
    mutationFn: (id: string) => api.del(`/members/invitations/${encodeURIComponent(id)}`, org.slug),
    onSuccess: refreshInvitations,
    onError: (error) => setFailure(errorText(error)),
  });
  const change = useMutation({
    mutationFn: ({ user, role }: { user: string; role: string }) => api.patch(`/members/${encodeURIComponent(user)}`, { role }, org.slug),
    onSuccess: refresh,
    onError: (error) => setFailure(errorText(error)),
  });
  const remove = useMutation({
    mutationFn: (user: string) => api.del(`/members/${encodeURIComponent(user)}`, org.slug),
    onSuccess: refresh,
    onError: (error) => setFailure(errorText(error)),
  });

  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    setFailure(null);
    const form = event.currentTarget;
    const data = new FormData(form);
    add.mutate({ email: String(data.get('email') ?? '').trim(), role: String(data.get('role') ?? 'member') }, { onSuccess: () => form.reset() });
  };

  return (
    <>
      <PageTitle>Members</PageTitle>
      {failure ? <Alert>{failure}</Alert> : null}
      {isAdmin ? (
        <form onSubmit={submit} noValidate className="mb-6 flex flex-wrap items-end gap-4" aria-label="Invite a member">
          <div>
            <label htmlFor={emailId} className="block text-sm font-medium">
              Email
            </label>
            <input id={emailId} name="email" type="email" autoComplete="off" className={inputClass} />
          </div>
          <div>
            <label htmlFor={roleId} className="block text-sm font-medium">
              Role
            </label>
            <select id={roleId} name="role" defaultValue="member" className={inputClass}>
              <option value="member">member</option>
              <option value="developer">developer</option>
              <option value="admin">admin</option>
            </select>
          </div>
          <Button type="submit" variant="primary" disabled={add.isPending}>
            Invite
          </Button>
        </form>
      ) : null}
      <table className={tableClass}>
        <caption className="sr-only">Members</caption>
        <thead>
          <tr>
            <th scope="col">Email</th>
            <th scope="col">Name</th>
            <th scope="col">Role</th>
            <th scope="col">Since</th>
            {isAdmin ? <th scope="col">Actions</th> : null}
          </tr>
        </thead>
        <tbody>
          {(members.data?.data ?? []).map((m) => (
            <tr key={m.user_id}>
              <td>{m.email}</td>
              <td>{m.name ?? ''}</td>
              <td>
                {isAdmin ? (
                  <select aria-label={`Role of ${m.email}`} className="rounded border border-slate-500 px-1" value={m.role} onChange={(e) => change.mutate({ user: m.user_id, role: e.target.value })}>
                    <option value="member">member</option>
                    <option value="developer">developer</option>
                    <option value="admin">admin</option>
                  </select>
                ) : (
                  m.role
                )}
              </td>
              <td>{when(m.created_at)}</td>
              {isAdmin ? (
                <td>
                  <ConfirmButton label={`Remove ${m.email}`} title={`Remove ${m.email}?`} message="They lose access to this organisation at once." confirmLabel="Remove member" onConfirm={() => remove.mutate(m.user_id)} />
                </td>
              ) : null}
            </tr>
          ))}
        </tbody>
      </table>
      {members.error ? <Alert>{errorText(members.error)}</Alert> : null}
      {isAdmin ? (
        <table className={`${tableClass} mt-8`}>
          <caption className="mb-2 text-left text-lg font-semibold">Open invitations</caption>
          <thead>
            <tr>
              <th scope="col">Email</th>
              <th scope="col">Role</th>
              <th scope="col">Status</th>
              <th scope="col">Expires</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {(invitations.data?.data ?? []).map((invitation) => (
              <tr key={invitation.id}>
                <td>{invitation.email}</td>
                <td>{invitation.role}</td>
                <td>{invitation.status}</td>
                <td>{when(invitation.expires_at)}</td>
                <td>
                  <ConfirmButton
                    label={`Revoke the invitation of ${invitation.email}`}
                    title={`Revoke the invitation of ${invitation.email}?`}
                    message="Its token stops working at once."
                    confirmLabel="Revoke invitation"
                    onConfirm={() => revoke.mutate(invitation.id)}
                  />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      <SecretOnce
        title="The invitation token: pass it to the invitee"
        secret={issuedToken}
        onClose={() => setIssuedToken(null)}
      />
    </>
  );
}
