// The names the lead log shows (its pages, forms and destinations by id), shared by the list and a lead's page.
import { useCallback, useMemo, useRef } from 'react';
import { api } from '../../api/client';
import type { components } from '../../api/schema';

type Destination = components['schemas']['Destination'];

/** The workspace's pages, forms and destinations by id: the filters' choices and the names in the list. */
export function useLeadLogNames(workspaceId: string) {
  const path = { workspaceId };
  const pages = api.useQuery('get', '/workspaces/{workspaceId}/pages', { params: { path } });
  const forms = api.useQuery('get', '/workspaces/{workspaceId}/forms', { params: { path } });
  const destinations = api.useQuery('get', '/workspaces/{workspaceId}/destinations', { params: { path } });
  // A lead of a form the list of forms did not have yet (its first lead just arrived): read the list again, once per form.
  const asked = useRef(new Set<string>());
  const { data: formList, refetch: refetchForms } = forms;
  const noticeForms = useCallback(
    (ids: (string | null)[]) => {
      if (!formList) return;
      const known = new Set(formList.items.map((f) => f.form_id));
      const unknown = ids.filter((id): id is string => id !== null && !known.has(id) && !asked.current.has(id));
      for (const id of unknown) asked.current.add(id);
      if (unknown.length > 0) void refetchForms();
    },
    [formList, refetchForms],
  );
  return useMemo(() => {
    const pageNames = new Map((pages.data?.items ?? []).map((p) => [p.page_id, p.name ?? p.page_id]));
    const formNames = new Map((forms.data?.items ?? []).map((f) => [f.form_id, f.name ?? f.form_id]));
    const destinationsById = new Map((destinations.data?.items ?? []).map((d) => [d.id, d]));
    return {
      pages: pages.data?.items ?? [],
      forms: forms.data?.items ?? [],
      destinations: destinations.data?.items ?? [],
      pageName: (id: string) => pageNames.get(id) ?? id,
      formName: (id: string | null, fallback: string | null) => (id ? (formNames.get(id) ?? fallback ?? id) : (fallback ?? '—')),
      destination: (id: string): Destination | undefined => destinationsById.get(id),
      noticeForms,
    };
  }, [pages.data, forms.data, destinations.data, noticeForms]);
}

export type LeadLogNames = ReturnType<typeof useLeadLogNames>;
