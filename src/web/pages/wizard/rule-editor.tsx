// A rule of the mapping editor: its source → CRM field columns, its transforms and its picklist value map.
import { useMemo } from 'react';
import { Button, Menu, MenuItem, MenuTrigger, Popover } from 'react-aria-components';
import { SelectField, TextInput } from '../../components/form';
import { FieldPicker, type PickerOption } from './field-picker';
import {
  DATE_FORMAT_OPTIONS,
  type DateFormat,
  describeSource,
  describeTransform,
  fieldDescription,
  type Question,
  questionOf,
  type Rule,
  setValueMapEntry,
  sourceFromKey,
  sourceKey,
  sourceOptions,
  TRANSFORM_CHOICES,
  type Transform,
  valueMapOf,
} from './mapping-model';
import type { DestinationField } from './setup-state';

const KEEP = '__keep';

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

export function RuleEditor({ rule, index, questions, fields, fieldOptions, crm, issues, onChange, onRemove }: RuleEditorProps) {
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
