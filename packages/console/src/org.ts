import { createContext, useContext } from 'react';
import type { Role } from './api';

export interface OrgInfo {
  slug: string;
  name: string;
  role: Role;
}

export const OrgContext = createContext<OrgInfo | null>(null);

export function useOrg(): OrgInfo;
export function useOrg(optional: true): OrgInfo | null;
export function useOrg(optional?: boolean): OrgInfo | null {
  const org = useContext(OrgContext);
  if (!org && !optional) throw new Error('useOrg outside an organisation route');
  return org;
}

const rank: Record<Role, number> = { member: 1, developer: 2, admin: 3 };
export const atLeast = (role: Role, needed: Role) => rank[role] >= rank[needed];

/** A path from the console's root, whatever router nesting a component sits in (wouter's `~` escapes every base). */
export const abs = (path: string) => `~/console${path}`;
