/** A time for people: in their locale and time zone. */
export const formatDateTime = (iso: string | null | undefined) => (iso ? new Date(iso).toLocaleString() : '—');

export const formatDate = (iso: string | null | undefined) => (iso ? new Date(iso).toLocaleDateString() : '—');

const ROLE_LABELS = { owner: 'Owner', admin: 'Admin', editor: 'Editor', viewer: 'Viewer' } as const;

export const roleLabel = (role: keyof typeof ROLE_LABELS) => ROLE_LABELS[role];

/** The roles a person may hand out: an owner any, an admin up to admin (the server decides again). */
export function assignableRoles(canOwn: boolean): { id: string; label: string; description: string }[] {
  const all = [
    { id: 'viewer', label: 'Viewer', description: 'sees the setup and the lead log, without answers' },
    { id: 'editor', label: 'Editor', description: 'changes the setup, reads answers, replays leads' },
    { id: 'admin', label: 'Admin', description: 'also manages members, API keys and the workspace' },
    { id: 'owner', label: 'Owner', description: 'everything, including making owners' },
  ];
  return canOwn ? all : all.filter((r) => r.id !== 'owner');
}
