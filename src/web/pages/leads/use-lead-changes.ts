// Keeps an open lead log current: polls GET …/leads/changes from the list's changes_cursor and
// hands every changed lead (whole summaries, oldest change first) to the page, which replaces
// what it holds by id. Polls only while the tab is visible; `has_more` asks again at once.
import { useQueryClient } from '@tanstack/react-query';
import { useEffect, useRef } from 'react';
import { fetchClient, problemOf } from '../../api/client';
import type { LeadSummary } from './lead-filters';

/** Between polls: a few seconds, well within the API's per-minute rate limit. */
const POLL_MS = 3000;

export function useLeadChanges(workspaceId: string, startCursor: string | undefined, onChanges: (leads: LeadSummary[]) => void): void {
  const queryClient = useQueryClient();
  const handler = useRef(onChanges);
  handler.current = onChanges;

  useEffect(() => {
    if (!startCursor) return;
    let cursor = startCursor;
    let isStopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const schedule = (ms: number) => {
      if (!isStopped) timer = setTimeout(poll, ms);
    };
    const poll = async () => {
      if (document.visibilityState === 'hidden') return schedule(POLL_MS);
      try {
        const { data, error } = await fetchClient.GET('/workspaces/{workspaceId}/leads/changes', {
          params: { path: { workspaceId }, query: { since: cursor } },
        });
        if (isStopped) return;
        if (error) {
          // Signed out meanwhile: the session query sends the person to sign in.
          if (problemOf(error).status === 401) void queryClient.invalidateQueries({ queryKey: ['session'] });
          return schedule(POLL_MS);
        }
        cursor = data.cursor;
        if (data.items.length > 0) handler.current(data.items);
        schedule(data.has_more ? 0 : POLL_MS);
      } catch {
        // No answer (offline, server restarting): try again at the same pace.
        schedule(POLL_MS);
      }
    };
    schedule(POLL_MS);
    return () => {
      isStopped = true;
      clearTimeout(timer);
    };
  }, [workspaceId, startCursor, queryClient]);
}
