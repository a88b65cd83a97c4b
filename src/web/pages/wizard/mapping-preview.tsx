// The mapping step's preview: what the CRM would get from the draft, for sample answers, Meta's test lead or a received lead.
import { keepPreviousData } from '@tanstack/react-query';
import { useEffect, useState } from 'react';
import { Label, Radio, RadioGroup } from 'react-aria-components';
import { api, problemMessage } from '../../api/client';
import { SelectField } from '../../components/form';
import { LoadError, Loading, TableWrap } from '../../components/layout';
import { formatDateTime } from '../../lib/format';
import { useCurrentWorkspace } from '../../lib/session';
import { formatValue } from './mapping-model';
import type { DestinationField, Mapping, Route } from './setup-state';

/** A value that settles: the draft is previewed once the person stops changing it for a moment. */
function useSettled<T>(value: T, ms: number): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setSettled(value), ms);
    return () => clearTimeout(timer);
  }, [value, ms]);
  return settled;
}

type PreviewSource = 'sample' | 'test_lead' | 'lead';

/** The server's preview of the draft: exactly what the CRM would get. */
export function PreviewPanel({ route, mapping, crm, fields }: { route: Route; mapping: Mapping; crm: string; fields: DestinationField[] }) {
  const { workspace, can } = useCurrentWorkspace();
  const [source, setSource] = useState<PreviewSource>('sample');
  const [leadId, setLeadId] = useState<string | null>(null);
  const canReadAnswers = can('leads.answers');
  const draft = useSettled(mapping, 400);
  const leads = api.useQuery(
    'get',
    '/workspaces/{workspaceId}/leads',
    { params: { path: { workspaceId: workspace.id }, query: { form_id: route.form_id ?? undefined, limit: 10 } } },
    { enabled: canReadAnswers && source === 'lead' },
  );
  const preview = api.useQuery(
    'post',
    '/workspaces/{workspaceId}/routes/{routeId}/mapping/preview',
    {
      params: { path: { workspaceId: workspace.id, routeId: route.id } },
      body: { source, mapping: draft, form_id: route.form_id ?? undefined, ...(source === 'lead' && leadId ? { lead_id: leadId } : {}) },
    },
    { enabled: source !== 'lead' || leadId !== null, placeholderData: keepPreviousData, retry: false },
  );
  const labelOf = (key: string) => fields.find((f) => f.key === key)?.label ?? key;
  const result = preview.data?.preview;
  const sourceWords = { sample: 'sample answers', test_lead: 'Meta’s test lead', lead: 'the lead you picked' }[source];

  return (
    <section className="panel preview" aria-labelledby="preview-heading">
      <h3 id="preview-heading">What {crm} will get</h3>
      <RadioGroup className="radio-row" value={source} onChange={(v) => setSource(v as PreviewSource)}>
        <Label className="choice-list-label">Preview with</Label>
        <Radio value="sample" className="radio">
          <span className="radio-dot" aria-hidden="true" />
          Sample answers
        </Radio>
        {canReadAnswers && (
          <Radio value="test_lead" className="radio">
            <span className="radio-dot" aria-hidden="true" />
            Meta’s test lead
          </Radio>
        )}
        {canReadAnswers && (
          <Radio value="lead" className="radio">
            <span className="radio-dot" aria-hidden="true" />A lead received
          </Radio>
        )}
      </RadioGroup>
      {source === 'lead' &&
        (leads.isPending ? (
          <Loading what="recent leads of the form" />
        ) : leads.error ? (
          <LoadError error={leads.error} what="recent leads of the form" />
        ) : leads.data.items.length === 0 ? (
          <p>No lead of this form has arrived yet.</p>
        ) : (
          <SelectField
            label="Lead"
            value={leadId ?? undefined}
            options={leads.data.items.map((l) => ({ id: l.id, label: formatDateTime(l.received_at), description: `Facebook lead ${l.leadgen_id}` }))}
            onChange={setLeadId}
          />
        ))}
      <p className="muted" role="status">
        {preview.isFetching ? 'Updating the preview…' : result ? `Shown for ${sourceWords}.` : ''}
      </p>
      {preview.error ? (
        <div className="alert alert-error">
          <p>{problemMessage(preview.error)}</p>
        </div>
      ) : null}
      {result && (
        <>
          {Object.keys(result.fields).length === 0 ? (
            <p>No field would be filled.</p>
          ) : (
            <TableWrap label={`Fields sent to ${crm}`}>
              <table>
                <caption className="visually-hidden">Fields sent to {crm}</caption>
                <thead>
                  <tr>
                    <th scope="col">{crm} field</th>
                    <th scope="col">Value</th>
                  </tr>
                </thead>
                <tbody>
                  {Object.entries(result.fields).map(([key, value]) => (
                    <tr key={key}>
                      <th scope="row" className="wrap">
                        {labelOf(key)}
                        {labelOf(key) !== key && <span className="muted"> ({key})</span>}
                      </th>
                      <td className="wrap" data-field={key}>
                        {formatValue(value)}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </TableWrap>
          )}
          {result.unmappedNote && (
            <div className="unmapped-note">
              <p className="unmapped-note-title">Answers no rule takes, as {crm} gets them:</p>
              <pre>{result.unmappedNote}</pre>
            </div>
          )}
          {[...result.warnings, ...result.issues.map((i) => `${i.severity === 'error' ? 'Error' : 'Warning'}: ${i.message}`)].length > 0 && (
            <ul className="preview-notes">
              {result.warnings.map((w) => (
                <li key={`w-${w}`}>{w}</li>
              ))}
              {result.issues.map((i) => (
                <li key={`i-${i.rule}-${i.message}`} className={i.severity === 'error' ? 'error-text' : undefined}>
                  {i.severity === 'error' ? 'Error' : 'Warning'}: {i.message}
                </li>
              ))}
            </ul>
          )}
          {result.validationSkipped && <p className="muted">{result.validationSkipped}</p>}
        </>
      )}
    </section>
  );
}
