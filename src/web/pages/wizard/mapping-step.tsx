// Step 4: map fields. A two-column editor of the route's rules — form question (or lead detail)
// → CRM field — pre-filled by the server's suggestion, with each CRM field's type, required fields
// flagged, picklist value maps, transforms, and where the answers no rule takes go. Beside it, the
// server's preview of exactly what the CRM would get for sample answers, Meta's test lead or a
// received lead, redrawn as the draft changes (the draft is sent, nothing is stored until Save).
import { keepPreviousData, useQueryClient } from '@tanstack/react-query';
import { useEffect, useMemo, useState } from 'react';
import { Button, Checkbox, Label, Menu, MenuItem, MenuTrigger, Popover, Radio, RadioGroup } from 'react-aria-components';
import { Link, useNavigate } from 'react-router';
import { api, problemMessage, problemOf } from '../../api/client';
import { SelectField, TextInput } from '../../components/form';
import { LoadError, Loading, TableWrap } from '../../components/layout';
import { formatDateTime } from '../../lib/format';
import { useCurrentWorkspace } from '../../lib/session';
import { FieldPicker, type PickerOption } from './field-picker';
import {
  DATE_FORMAT_OPTIONS,
  type DateFormat,
  describeSource,
  describeTransform,
  fieldDescription,
  formatValue,
  missingRequiredFields,
  newRule,
  type Question,
  questionOf,
  removeRule,
  replaceRule,
  type Rule,
  ruleIndexOfField,
  setValueMapEntry,
  sourceFromKey,
  sourceKey,
  sourceOptions,
  TRANSFORM_CHOICES,
  type Transform,
  unmappedQuestions,
  valueMapOf,
} from './mapping-model';
import type { DestinationField, Mapping, Route, SetupState } from './setup-state';
import { stepUrl } from './setup-state';

const KEEP = '__keep';
const NOWHERE = '__note';

/** A value that settles: the draft is previewed once the person stops changing it for a moment. */
function useSettled<T>(value: T, ms: number): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setSettled(value), ms);
    return () => clearTimeout(timer);
  }, [value, ms]);
  return settled;
}

function TransformEditor({
  transform,
  ruleName,
  onChange,
  onRemove,
}: {
  transform: Transform;
  ruleName: string;
  onChange(t: Transform): void;
  onRemove(): void;
}) {
  const words = describeTransform(transform);
  return (
    <li className="chip">
      <span>{words}</span>
      {transform.type === 'date' && (
        <SelectField
          className="field field-compact"
          label={`Date format for ${ruleName}`}
          isLabelHidden
          value={transform.format}
          options={DATE_FORMAT_OPTIONS}
          onChange={(format) => onChange({ ...transform, format: format as DateFormat })}
        />
      )}
      {transform.type === 'truncate' && (
        <TextInput
          className="field field-compact"
          label={`Length for ${ruleName}`}
          inputMode="numeric"
          value={String(transform.length)}
          onChange={(v) => {
            const n = Number.parseInt(v, 10);
            if (Number.isInteger(n) && n > 0) onChange({ ...transform, length: n });
          }}
        />
      )}
      {transform.type === 'join' && (
        <TextInput
          className="field field-compact"
          label={`Separator for ${ruleName}`}
          value={transform.separator}
          onChange={(separator) => onChange({ ...transform, separator })}
        />
      )}
      {transform.type === 'phone_e164' && (
        <TextInput
          className="field field-compact"
          label={`Country of numbers without +code, for ${ruleName}`}
          placeholder="country, e.g. GB"
          value={transform.defaultCountry ?? ''}
          onChange={(v) => {
            const code = v.trim().toUpperCase();
            const { defaultCountry: _, ...rest } = transform;
            onChange(code ? { ...rest, defaultCountry: code } : rest);
          }}
        />
      )}
      <Button className="chip-remove" aria-label={`Remove step “${words}” from ${ruleName}`} onPress={onRemove}>
        ×
      </Button>
    </li>
  );
}

/** Form options → the CRM picklist's values, for a rule from a choice question into a picklist. */
function ValueMapEditor({
  rule,
  question,
  field,
  crm,
  onChange,
}: {
  rule: Rule;
  question: Question;
  field: DestinationField;
  crm: string;
  onChange(r: Rule): void;
}) {
  const map = valueMapOf(rule);
  const choices = [{ id: KEEP, label: 'Keep the answer as it is' }, ...(field.options ?? []).map((o) => ({ id: o.value, label: o.label }))];
  return (
    <div className="value-map">
      <p className="value-map-title">
        “{question.label}” answers → {crm} choices of “{field.label}”
      </p>
      <ul>
        {question.options.map((o) => (
          <li key={o.key} className="value-map-row">
            <span className="value-map-answer">{o.value}</span>
            <span aria-hidden="true">→</span>
            <SelectField
              className="field field-compact"
              label={`${crm} value for the answer “${o.value}”`}
              isLabelHidden
              value={map[o.key] ?? map[o.value] ?? KEEP}
              options={choices}
              onChange={(v) => onChange(setValueMapEntry(rule, o.key, v === KEEP ? '' : v))}
            />
          </li>
        ))}
      </ul>
    </div>
  );
}

interface RuleEditorProps {
  rule: Rule;
  index: number;
  questions: Question[];
  fields: DestinationField[];
  fieldOptions: PickerOption[];
  crm: string;
  issues: string[];
  onChange(r: Rule): void;
  onRemove(): void;
}

function RuleEditor({ rule, index, questions, fields, fieldOptions, crm, issues, onChange, onRemove }: RuleEditorProps) {
  const field = fields.find((f) => f.key === rule.target);
  const question = questionOf(rule, questions);
  const from = describeSource(rule.source, questions);
  const ruleName = `rule ${index + 1} (${from} → ${field?.label ?? rule.target})`;
  const transforms = rule.transforms ?? [];
  const setTransforms = (next: Transform[]) => onChange({ ...rule, transforms: next });
  const isUnknownTarget = !field && rule.target !== '';
  const targetOptions = useMemo(
    () => (isUnknownTarget ? [{ id: rule.target, label: rule.target, description: `not a field of ${crm}` }, ...fieldOptions] : fieldOptions),
    [isUnknownTarget, rule.target, crm, fieldOptions],
  );
  return (
    <li className={`rule${issues.length ? ' rule-invalid' : ''}`}>
      <fieldset>
        <legend className="rule-legend">
          <span className="rule-number">{index + 1}.</span> {from} → {field?.label ?? (rule.target || 'choose a field')}
          {field?.required && <span className="badge badge-required">required</span>}
        </legend>
        <div className="rule-columns">
          <div className="rule-from">
            <SelectField
              label="From the form"
              value={sourceKey(rule.source)}
              options={sourceOptions(questions, rule.source)}
              onChange={(k) => onChange({ ...rule, source: sourceFromKey(k, rule.source) })}
            />
            {rule.source.type === 'constant' && (
              <TextInput
                label="Fixed value"
                value={String(rule.source.value)}
                onChange={(value) => onChange({ ...rule, source: { type: 'constant', value } })}
              />
            )}
            {rule.source.type === 'template' && (
              <TextInput
                label="Template"
                description="e.g. {{campaign_name|organic}} – {{form_name}}"
                value={rule.source.template}
                onChange={(template) => onChange({ ...rule, source: { type: 'template', template } })}
              />
            )}
            {question && (
              <p className="field-note">
                {question.type.toLowerCase().replace(/_/g, ' ')} question{question.options.length ? `, ${question.options.length} choices` : ''}
              </p>
            )}
          </div>
          <span className="rule-arrow" aria-hidden="true">
            →
          </span>
          <div className="rule-to">
            <FieldPicker
              label={`To ${crm} field`}
              options={targetOptions}
              value={rule.target || null}
              onChange={(target) => onChange({ ...rule, target })}
              description={field ? fieldDescription(field) : rule.target ? `Not a field of ${crm}` : undefined}
              isInvalid={!field && fields.length > 0}
            />
          </div>
        </div>
        <div className="transforms">
          <p className="transforms-label">{transforms.length ? 'Steps before sending:' : 'Sent as it is.'}</p>
          {transforms.length > 0 && (
            <ol className="chips">
              {transforms.map((t, ti) =>
                t.type === 'value_map' ? null : (
                  <TransformEditor
                    // biome-ignore lint/suspicious/noArrayIndexKey: a rule's transforms have no ids; their order is their identity
                    key={ti}
                    transform={t}
                    ruleName={ruleName}
                    onChange={(next) => setTransforms(transforms.map((x, i) => (i === ti ? next : x)))}
                    onRemove={() => setTransforms(transforms.filter((_, i) => i !== ti))}
                  />
                ),
              )}
            </ol>
          )}
          <MenuTrigger>
            <Button className="button button-small" aria-label={`Add a step to ${ruleName}`}>
              Add a step
            </Button>
            <Popover className="popover">
              <Menu
                className="listbox"
                items={TRANSFORM_CHOICES}
                onAction={(id) => {
                  const choice = TRANSFORM_CHOICES.find((c) => c.id === id);
                  if (choice) setTransforms([...transforms, choice.make(field)]);
                }}
              >
                {(c) => (
                  <MenuItem id={c.id} className="listbox-item">
                    {c.label}
                  </MenuItem>
                )}
              </Menu>
            </Popover>
          </MenuTrigger>
        </div>
        {field?.options?.length && question?.options.length ? (
          <ValueMapEditor rule={rule} question={question} field={field} crm={crm} onChange={onChange} />
        ) : null}
        {issues.length > 0 && (
          <ul className="rule-issues">
            {issues.map((m) => (
              <li key={m}>{m}</li>
            ))}
          </ul>
        )}
        <Button className="button button-quiet" onPress={onRemove} aria-label={`Remove ${ruleName}`}>
          Remove rule
        </Button>
      </fieldset>
    </li>
  );
}

type PreviewSource = 'sample' | 'test_lead' | 'lead';

/** The server's preview of the draft: exactly what the CRM would get. */
function PreviewPanel({ route, mapping, crm, fields }: { route: Route; mapping: Mapping; crm: string; fields: DestinationField[] }) {
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
