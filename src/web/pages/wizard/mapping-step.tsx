// Step 4: map fields. A two-column editor of the route's rules — form question (or lead detail)
// → CRM field — pre-filled by the server's suggestion, with each CRM field's type, required fields
// flagged, picklist value maps, transforms, and where the answers no rule takes go. Beside it, the
// server's preview of exactly what the CRM would get for sample answers, Meta's test lead or a
// received lead, redrawn as the draft changes (the draft is sent, nothing is stored until Save).
import { useQueryClient } from '@tanstack/react-query';
import { useMemo, useState } from 'react';
import { Button, Checkbox } from 'react-aria-components';
import { Link, useNavigate } from 'react-router';
import { api, problemOf } from '../../api/client';
import { SelectField } from '../../components/form';
import { LoadError, Loading } from '../../components/layout';
import { useCurrentWorkspace } from '../../lib/session';
import type { PickerOption } from './field-picker';
import {
  describeSource,
  fieldDescription,
  missingRequiredFields,
  newRule,
  type Question,
  removeRule,
  replaceRule,
  type Rule,
  ruleIndexOfField,
  unmappedQuestions,
} from './mapping-model';
import { PreviewPanel } from './mapping-preview';
import { RuleEditor } from './rule-editor';
import type { DestinationField, Mapping, SetupState } from './setup-state';
import { stepUrl } from './setup-state';

const NOWHERE = '__note';

/** Where the answers no rule takes go. */
function UnmappedEditor({
  mapping,
  questions,
  fields,
  crm,
  onChange,
}: {
  mapping: Mapping;
  questions: Question[];
  fields: DestinationField[];
  crm: string;
  onChange(m: Mapping): void;
}) {
  const left = unmappedQuestions(mapping, questions);
  const textFields = fields.filter((f) => /string|text|textarea/i.test(f.type) && !f.options?.length);
  const includeLabels = mapping.unmapped?.includeLabels !== false;
  return (
    <section className="unmapped" aria-labelledby="unmapped-heading">
      <h4 id="unmapped-heading">Answers no rule takes</h4>
      <p>
        {left.length === 0
          ? 'Every question of the form has a rule.'
          : `${left.map((q) => `“${q.label}”`).join(', ')} ${left.length === 1 ? 'has' : 'have'} no rule: ${left.length === 1 ? 'its answer is' : 'their answers are'} kept in a note.`}
      </p>
      <SelectField
        label="Put that note in"
        value={mapping.unmapped?.target ?? NOWHERE}
        options={[
          { id: NOWHERE, label: `${crm}’s own note on the record`, description: 'where the CRM takes notes' },
          ...textFields.map((f) => ({ id: f.key, label: f.label, description: f.key })),
        ]}
        onChange={(v) => onChange({ ...mapping, unmapped: v === NOWHERE ? null : { target: v, includeLabels } })}
      />
      {mapping.unmapped?.target && (
        <Checkbox
          className="checkbox"
          isSelected={includeLabels}
          onChange={(on) => onChange({ ...mapping, unmapped: { target: mapping.unmapped!.target, includeLabels: on } })}
        >
          <span className="checkbox-box" aria-hidden="true" />
          Write each question before its answer
        </Checkbox>
      )}
    </section>
  );
}

export function MapStep({ state }: { state: SetupState }) {
  const { workspace, can } = useCurrentWorkspace();
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const route = state.route;
  const path = { workspaceId: workspace.id };
  const destination = state.destinations.find((d) => d.id === route?.destination_id);
  const types = api.useQuery('get', '/destination-types');
  const crm = types.data?.items.find((t) => t.id === destination?.type)?.label ?? destination?.name ?? 'the CRM';
  const forms = api.useQuery(
    'get',
    '/workspaces/{workspaceId}/pages/{pageId}/forms',
    { params: { path: { ...path, pageId: route?.page_id ?? '' } } },
    { enabled: route !== undefined },
  );
  const fields = api.useQuery(
    'post',
    '/workspaces/{workspaceId}/destinations/{destinationId}/check',
    { params: { path: { ...path, destinationId: route?.destination_id ?? '' } } },
    { enabled: route !== undefined },
  );
  const suggestion = api.useQuery(
    'get',
    '/workspaces/{workspaceId}/routes/{routeId}/mapping/suggestion',
    { params: { path: { ...path, routeId: route?.id ?? '' }, query: { form_id: route?.form_id ?? undefined } } },
    { enabled: route !== undefined, staleTime: Number.POSITIVE_INFINITY },
  );
  const save = api.useMutation('put', '/workspaces/{workspaceId}/routes/{routeId}/mapping');
  const [draft, setDraft] = useState<Mapping | null>(null);
  // Stable between renders, so an open field list keeps its options while the preview updates.
  const checked = fields.data;
  const fieldOptions = useMemo<PickerOption[]>(
    () => (checked?.ok ? checked.fields : []).map((f) => ({ id: f.key, label: f.label, description: fieldDescription(f) })),
    [checked],
  );

  if (!route)
    return (
      <p>
        There is no route to map yet.{' '}
        <Link to={stepUrl(workspace.id, 'crm')} state={{ keepFocus: true }}>
          Connect a CRM
        </Link>{' '}
        first.
      </p>
    );
  if (suggestion.isPending || forms.isPending || fields.isPending) return <Loading what="the form’s questions and the CRM’s fields" />;
  if (suggestion.error) return <LoadError error={suggestion.error} what="the suggested mapping" />;
  if (forms.error) return <LoadError error={forms.error} what="the form’s questions" />;
  if (fields.error) return <LoadError error={fields.error} what={`the fields of ${crm}`} />;

  const form = forms.data.items.find((f) => f.id === route.form_id);
  const questions = form?.questions ?? [];
  const crmFields = fields.data.ok ? fields.data.fields : [];
  const suggested = suggestion.data.forms[0]?.mapping;
  const mapping = draft ?? route.mapping ?? suggested ?? { version: 1 as const, rules: [] };
  const missing = missingRequiredFields(mapping, crmFields);
  const canWrite = can('config.write');

  // The server's refusals on save, by rule.
  const saveProblem = save.error ? problemOf(save.error) : null;
  const issuesByRule = new Map<number, string[]>();
  for (const e of saveProblem?.errors ?? []) {
    const at = ruleIndexOfField(e.field);
    if (at !== null) issuesByRule.set(at, [...(issuesByRule.get(at) ?? []), e.message]);
  }
  const unplacedSaveErrors = (saveProblem?.errors ?? []).filter((e) => ruleIndexOfField(e.field) === null);
  const change = (next: Mapping) => {
    if (save.error) save.reset();
    setDraft(next);
  };
  // Rules from the form first; those that send a detail of the lead (ad, campaign, ids) folded away.
  const indexed = mapping.rules.map((rule, i) => ({ rule, i }));
  const answerRules = indexed.filter(({ rule }) => rule.source.type !== 'meta');
  const detailRules = indexed.filter(({ rule }) => rule.source.type === 'meta');
  const renderRule = ({ rule, i }: { rule: Rule; i: number }) => (
    <RuleEditor
      // Rules have no ids; their order is their identity (the first non-empty value wins).
      key={i}
      rule={rule}
      index={i}
      questions={questions}
      fields={crmFields}
      fieldOptions={fieldOptions}
      crm={crm}
      issues={issuesByRule.get(i) ?? []}
      onChange={(r) => change(replaceRule(mapping, i, r))}
      onRemove={() => change(removeRule(mapping, i))}
    />
  );

  return (
    <>
      <p>
        Each rule takes an answer of the form “{form?.name ?? route.form_id}” (or a detail of the lead) and writes it into a {crm} field.{' '}
        {route.mapping ? 'This is the mapping the route uses now.' : 'LeadRelay suggested these rules from the form’s questions and the fields of your CRM.'}
      </p>
      {route.drift && (
        <div className="alert alert-warning" role="status">
          <p className="alert-title">The form changed since this mapping was saved</p>
          <p>{route.drift.summary}</p>
        </div>
      )}
      {!fields.data.ok && (
        <div className="alert alert-error" role="alert">
          <p className="alert-title">{crm} did not list its fields</p>
          <p>{fields.data.error?.message ?? fields.data.error?.reason}</p>
        </div>
      )}
      {!route.mapping && draft === null && suggestion.data.notes.length > 0 && (
        <div className="alert alert-info">
          <p className="alert-title">Notes on the suggestion</p>
          <ul>
            {suggestion.data.notes.map((n) => (
              <li key={n}>{n}</li>
            ))}
          </ul>
        </div>
      )}
      {missing.length > 0 && (
        <div className="alert alert-warning" role="status">
          <p className="alert-title">
            {crm} requires {missing.length === 1 ? 'a field' : 'fields'} no rule fills: {missing.map((f) => f.label).join(', ')}
          </p>
          <p>
            Add a rule for {missing.length === 1 ? 'it' : 'each'}, or {crm} may refuse the lead.
          </p>
        </div>
      )}
      <div className="mapping-layout">
        <section className="mapping-rules" aria-labelledby="rules-heading">
          <h3 id="rules-heading">Form question → {crm} field</h3>
          <ol className="rules">{answerRules.map(renderRule)}</ol>
          {detailRules.length > 0 && (
            <details className="detail-rules" open={detailRules.some(({ i }) => issuesByRule.has(i)) || undefined}>
              <summary>
                Lead details sent along ({detailRules.length}): {detailRules.map(({ rule }) => describeSource(rule.source, questions).toLowerCase()).join(', ')}
              </summary>
              <ol className="rules">{detailRules.map(renderRule)}</ol>
            </details>
          )}
          <div className="button-row">
            <Button className="button" onPress={() => change({ ...mapping, rules: [...mapping.rules, newRule(mapping, questions, crmFields)] })}>
              Add a rule
            </Button>
            {suggested && (draft !== null || route.mapping) && (
              <Button className="button button-quiet" onPress={() => change(suggested)}>
                Start again from the suggestion
              </Button>
            )}
          </div>
          <UnmappedEditor mapping={mapping} questions={questions} fields={crmFields} crm={crm} onChange={change} />
        </section>
        <PreviewPanel route={route} mapping={mapping} crm={crm} fields={crmFields} />
      </div>
      {saveProblem && (
        <div className="alert alert-error" role="alert">
          <p className="alert-title">The mapping was not saved</p>
          <p>{saveProblem.errors?.length ? 'Correct the rules marked above.' : saveProblem.detail}</p>
          {unplacedSaveErrors.length > 0 && (
            <ul>
              {unplacedSaveErrors.map((e) => (
                <li key={e.message}>{e.message}</li>
              ))}
            </ul>
          )}
        </div>
      )}
      {canWrite && (
        <div className="button-row step-actions">
          <Button
            className="button button-primary"
            isDisabled={save.isPending}
            onPress={() =>
              save.mutate(
                { params: { path: { ...path, routeId: route.id } }, body: { mapping } },
                {
                  onSuccess: async () => {
                    await queryClient.invalidateQueries({ queryKey: ['get', '/workspaces/{workspaceId}/routes'] });
                    navigate(stepUrl(workspace.id, 'test', { route: route.id }), { state: { keepFocus: true } });
                  },
                },
              )
            }
          >
            Save mapping and continue
          </Button>
        </div>
      )}
    </>
  );
}
