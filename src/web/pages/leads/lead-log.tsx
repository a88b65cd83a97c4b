// The lead log's pages under /w/:workspaceId/leads: the list (its filters in the address) and
// one lead at /w/:workspaceId/leads/:leadId.
import { Route, Routes } from 'react-router';
import { LeadDetailPage } from './lead-detail';
import { LeadListPage } from './lead-list';

export function LeadLogPage() {
  return (
    <Routes>
      <Route index element={<LeadListPage />} />
      <Route path=":leadId" element={<LeadDetailPage />} />
    </Routes>
  );
}
