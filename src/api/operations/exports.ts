// Workspace export: everything the workspace owns as a .tar.gz (JSON per table, leads.csv),
// made in the background with progress, downloadable for 24 hours. Owners only (workspace.own):
// the archive holds every lead's answers and the whole configuration. Downloading is audited as
// a read of answers.
import { z } from 'zod';
import { describeExportJob, getExportJob, openExportArchive, startWorkspaceExport } from '../../services/workspace-export.js';
import { auditActorOf } from '../audit-actor.js';
import { sendFileAttachment } from '../download.js';
import { defineOperation, Reply } from '../operation.js';
import { workspaceIdParams } from './workspaces.js';

const exportSchema = z
  .object({
    id: z.uuid(),
    status: z.enum(['running', 'done', 'failed', 'expired', 'abandoned']).meta({
      description: 'abandoned: the server making it stopped; start a new one. expired: the archive was deleted (24 hours after it was made)',
    }),
    done: z.number().int().meta({ description: 'rows written so far' }),
    total: z.number().int().meta({ description: 'rows to write (counted at the start)' }),
    progress: z.number().meta({ description: '0 to 1' }),
    size_bytes: z.number().int().nullable(),
    requested_by: z.string().nullable(),
    created_at: z.iso.datetime(),
    finished_at: z.iso.datetime().nullable(),
    expires_at: z.iso.datetime().nullable().meta({ description: 'when the archive is deleted' }),
  })
  .meta({ id: 'WorkspaceExport' });

const exportParams = workspaceIdParams.extend({ exportId: z.string().max(64).meta({ description: 'export id (uuid)' }) });

export const exportOperations = [
  defineOperation({
    operationId: 'startWorkspaceExport',
    method: 'post',
    path: '/workspaces/{workspaceId}/exports',
    summary:
      'Export everything the workspace owns (pages without tokens, destinations without secrets, routes, mappings, leads with answers, delivery history, audit log)',
    description:
      'Runs in the background: follow GET …/exports/{exportId} until status is done, then GET …/exports/{exportId}/download (a .tar.gz: manifest.json, one JSON file per table, leads.csv). ' +
      'The archive is kept 24 hours, on the server that made it. One export per workspace runs at a time (409).',
    tag: 'Workspace export',
    access: { kind: 'workspace', permission: 'workspace.own' },
    params: workspaceIdParams,
    errors: [409],
    response: { status: 202, description: 'the export, started', schema: exportSchema },
    async handler({ app, workspaceId, actor, audit }) {
      const job = await startWorkspaceExport(app, workspaceId, auditActorOf(actor).label);
      audit.target = { type: 'export', id: job.id };
      return new Reply(202, describeExportJob(job), { location: `/api/v1/workspaces/${workspaceId}/exports/${job.id}` });
    },
  }),
  defineOperation({
    operationId: 'getWorkspaceExport',
    method: 'get',
    path: '/workspaces/{workspaceId}/exports/{exportId}',
    summary: 'How far an export is (rows done of total), and when its archive expires',
    tag: 'Workspace export',
    access: { kind: 'workspace', permission: 'workspace.own' },
    params: exportParams,
    response: { status: 200, description: 'the export', schema: exportSchema },
    async handler({ app, workspaceId, params }) {
      return describeExportJob(await getExportJob(app, workspaceId, params.exportId));
    },
  }),
  defineOperation({
    operationId: 'downloadWorkspaceExport',
    method: 'get',
    path: '/workspaces/{workspaceId}/exports/{exportId}/download',
    summary: "A finished export's archive (application/gzip); audited as a read of every lead's answers",
    tag: 'Workspace export',
    access: { kind: 'workspace', permission: 'workspace.own' },
    params: exportParams,
    audit: 'read',
    errors: [409],
    response: { status: 200, description: 'the .tar.gz archive' },
    async handler({ app, workspaceId, params, res, audit, recordAuditNow }) {
      const archive = await openExportArchive(app, workspaceId, params.exportId);
      audit.target = { type: 'export', id: params.exportId };
      audit.details = { reads: 'lead_answers', size_bytes: archive.size };
      await recordAuditNow();
      return sendFileAttachment(res, { path: archive.path, size: archive.size, contentType: 'application/gzip', fileName: archive.downloadName });
    },
  }),
];
