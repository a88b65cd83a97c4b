// Checks a mapping against the CRM's field metadata before it is saved: required fields are
// covered, targets exist, values fit the field's type, picklist values exist, lengths fit.
// Errors block saving; warnings are shown beside the rule. Messages name the field and the
// rule (1-based, as a person counts), and quote only configuration, never a lead's answer.
import type { FieldDescriptor } from '../../connectors/types.js';
import { findQuestion, isRuleAlwaysFilled, ruleOutputKind, rulePossibleValues, type ValueKind } from './rule-analysis.js';
import { mappingSchema, type FormQuestion, type Mapping, type MappingRule, type Transform } from './schema.js';
import { truncateCodePoints } from './transforms.js';

export interface MappingIssue {
  severity: 'error' | 'warning';
  /** The CRM field key the issue is about ('' for the mapping as a whole). */
  field: string;
  /** 0-based index into `mapping.rules`, or null for an issue not tied to one rule. */
  rule: number | null;
  message: string;
}

/** A note field shorter than this may not hold every unmapped answer. */
const NOTE_MIN_COMFORTABLE_LENGTH = 2000;

const TEXT_KINDS = new Set<ValueKind>(['text', 'email', 'phone']);

function describeRule(index: number, rule: MappingRule): string {
  return `rule ${index + 1} → ${rule.target}`;
}

function typeIssue(kind: ValueKind, field: FieldDescriptor, rule: MappingRule): string | null {
  const from = rule.source.type === 'answer' ? 'an answer' : `a ${kind} value`;
  switch (field.type) {
    case 'number':
      if (kind === 'number') return null;
      if (kind === 'boolean') return 'writes a yes/no value into a number field';
      return `writes ${from} into a number field: add a number transform`;
    case 'boolean':
      if (kind === 'boolean') return null;
      return `writes ${from} into a yes/no field: add a boolean transform`;
    case 'date':
      if (kind === 'date' || kind === 'number') return null;
      if (kind === 'datetime') return 'writes a date and time into a date field: use a date transform with format "date"';
      return `writes ${from} into a date field: add a date transform`;
    case 'datetime':
      if (kind === 'datetime' || kind === 'date' || kind === 'number') return null;
      return `writes ${from} into a date-time field: add a date transform`;
    case 'email':
      return kind === 'text' || kind === 'email' ? null : `writes a ${kind} value into an email field`;
    case 'phone':
      return kind === 'text' || kind === 'phone' ? null : `writes a ${kind} value into a phone field`;
    case 'id':
      return 'writes into an id field';
    default:
      return null;
  }
}

function checkRule(
  rule: MappingRule,
  index: number,
  field: FieldDescriptor | undefined,
  questions: FormQuestion[] | undefined,
  mapping: Mapping,
  issues: MappingIssue[],
): void {
  const where = describeRule(index, rule);
  const push = (severity: MappingIssue['severity'], message: string) =>
    issues.push({ severity, field: rule.target, rule: index, message: `${where}: ${message}` });
  const transforms: Transform[] = rule.transforms ?? [];

  if (rule.source.type === 'answer' && questions && !findQuestion(questions, rule.source.key)) {
    push('warning', `question "${rule.source.key}" is not on the form (its answers will be empty)`);
  }
  if (rule.source.type === 'answer') {
    const question = questions ? findQuestion(questions, rule.source.key) : undefined;
    for (const t of transforms) {
      if (t.type !== 'value_map' || !question?.options?.length) continue;
      const known = new Set(question.options.flatMap((o) => [o.key, o.value].map((s) => s.trim().toLowerCase())));
      const stray = Object.keys(t.map).filter((k) => !known.has(k.trim().toLowerCase()));
      if (stray.length > 0) push('warning', `value map entries ${stray.map((s) => `"${s}"`).join(', ')} are not options of question "${rule.source.key}"`);
    }
  }
  for (const t of transforms) {
    if (t.type !== 'phone_e164' || !t.defaultCountryFrom || !questions || findQuestion(questions, t.defaultCountryFrom)) continue;
    push('warning', `phone country question "${t.defaultCountryFrom}" is not on the form (the default country will be used)`);
  }
  const phones = transforms.filter((t): t is Extract<Transform, { type: 'phone_e164' }> => t.type === 'phone_e164' && !t.defaultCountry);
  if (phones.length > 0 && !mapping.defaultCountry) {
    const from = phones.find((t) => t.defaultCountryFrom)?.defaultCountryFrom;
    push(
      'warning',
      from
        ? `no default country: phone numbers typed without +country code will be kept as typed when "${from}" does not name a country`
        : 'no default country: phone numbers typed without +country code will be kept as typed',
    );
  }
  if (!field) return;

  const kind = ruleOutputKind(rule, questions);
  const possible = rulePossibleValues(rule, questions);
  if (field.type === 'enum' || field.type === 'multienum') {
    const options = field.options ?? [];
    if (options.length > 0) {
      if (possible === null) {
        push('error', `writes free text into picklist "${field.label}": add a value map or use a constant`);
      } else {
        const allowed = new Set(options.map((o) => o.value));
        // A multi-select writes several items joined by a separator; check each item.
        const join = transforms.find((t): t is Extract<Transform, { type: 'join' }> => t.type === 'join');
        const items = field.type === 'multienum' && join ? possible.flatMap((v) => v.split(join.separator)) : possible;
        const missing = [...new Set(items)].filter((v) => !allowed.has(v));
        if (missing.length > 0)
          push(
            'error',
            `${missing.map((v) => `"${v}"`).join(', ')} ${missing.length === 1 ? 'is not an option' : 'are not options'} of picklist "${field.label}"`,
          );
      }
    }
  } else {
    const problem = typeIssue(kind, field, rule);
    if (problem) push('warning', problem);
  }

  // A picklist's options are the CRM's own values: checking them against its length adds nothing.
  const isPicklist = (field.type === 'enum' || field.type === 'multienum') && (field.options?.length ?? 0) > 0;
  if (field.length && field.length > 0 && TEXT_KINDS.has(kind) && !isPicklist) {
    const truncate = transforms.filter((t): t is Extract<Transform, { type: 'truncate' }> => t.type === 'truncate').at(-1);
    if (possible !== null) {
      const tooLong = possible.filter((v) => truncateCodePoints(v, field.length!) !== v);
      if (tooLong.length > 0) push('error', `a value is longer than the field's ${field.length} characters`);
    } else if (!truncate) {
      push('warning', `values longer than ${field.length} characters will be rejected: add a truncate to ${field.length}`);
    } else if (truncate.length > field.length) {
      push('warning', `truncates to ${truncate.length} characters but the field holds ${field.length}`);
    }
  }
}

export interface ValidateOptions {
  /**
   * The destination takes any key (its connector declares open targets): a target that is not
   * among `fields` is accepted; the ones that are get their types checked.
   */
  openTargets?: boolean;
}

/**
 * Validates a mapping (raw JSON or typed) against the CRM's fields and, when given, the form's
 * questions. With no `fields` (a CRM not connected yet) or open targets, targets are free and
 * only the rules themselves (and the fields that are described) are checked.
 */
export function validateMapping(mapping: Mapping, fields: FieldDescriptor[], questions?: FormQuestion[], options: ValidateOptions = {}): MappingIssue[] {
  const parsed = mappingSchema.safeParse(mapping);
  if (!parsed.success) {
    return parsed.error.issues.map((i) => {
      const ruleIndex = i.path[0] === 'rules' && typeof i.path[1] === 'number' ? i.path[1] : null;
      const raw = ruleIndex !== null ? (mapping as { rules?: { target?: unknown }[] })?.rules?.[ruleIndex]?.target : undefined;
      const path = i.path.join('.') || '(mapping)';
      return {
        severity: 'error' as const,
        field: typeof raw === 'string' ? raw : '',
        rule: ruleIndex,
        message: `${ruleIndex !== null ? `rule ${ruleIndex + 1}: ` : ''}${path}: ${i.message}`,
      };
    });
  }
  const m = parsed.data;
  const issues: MappingIssue[] = [];
  const fieldByKey = new Map(fields.map((f) => [f.key, f]));
  const isOpen = fields.length === 0 || options.openTargets === true;

  m.rules.forEach((rule, index) => {
    const field = fieldByKey.get(rule.target);
    if (!field && !isOpen) {
      issues.push({
        severity: 'error',
        field: rule.target,
        rule: index,
        message: `${describeRule(index, rule)}: "${rule.target}" is not a writable field of this CRM`,
      });
    }
    const earlier = m.rules.findIndex((r, j) => j < index && r.target === rule.target && isRuleAlwaysFilled(r));
    if (earlier >= 0) {
      issues.push({
        severity: 'warning',
        field: rule.target,
        rule: index,
        message: `${describeRule(index, rule)}: never used, rule ${earlier + 1} always fills "${rule.target}" first`,
      });
    }
    checkRule(rule, index, field, questions, m, issues);
  });

  const noteTarget = m.unmapped?.target ?? null;
  if (noteTarget !== null) {
    const field = fieldByKey.get(noteTarget);
    if (!field) {
      if (!isOpen)
        issues.push({
          severity: 'warning',
          field: noteTarget,
          rule: null,
          message: `unmapped answers go to "${noteTarget}", which is not a field of this CRM; only a connector that writes it as a note accepts it`,
        });
    } else {
      if (field.type !== 'string' && field.type !== 'text' && field.type !== 'other') {
        issues.push({
          severity: 'error',
          field: noteTarget,
          rule: null,
          message: `unmapped answers need a text field, but "${field.label}" is a ${field.type} field`,
        });
      }
      if (field.length && field.length < NOTE_MIN_COMFORTABLE_LENGTH) {
        issues.push({
          severity: 'warning',
          field: noteTarget,
          rule: null,
          message: `"${field.label}" holds ${field.length} characters; long unmapped answers may be rejected`,
        });
      }
    }
  }

  for (const field of fields) {
    if (!field.required) continue;
    const rules = m.rules.map((r, i) => ({ r, i })).filter(({ r }) => r.target === field.key);
    if (rules.length === 0 && noteTarget !== field.key) {
      issues.push({ severity: 'error', field: field.key, rule: null, message: `required field "${field.label}" (${field.key}) has no rule` });
    } else if (rules.length > 0 && !rules.some(({ r }) => isRuleAlwaysFilled(r))) {
      const list = rules.map(({ i }) => i + 1).join(', ');
      issues.push({
        severity: 'warning',
        field: field.key,
        rule: rules[0].i,
        message: `required field "${field.label}" (${field.key}) may be empty for some leads (rule ${list}): add a constant rule after it as a fallback`,
      });
    }
  }
  return issues;
}

/** True when no issue is an error (warnings do not block saving). */
export function isMappingSavable(issues: MappingIssue[]): boolean {
  return !issues.some((i) => i.severity === 'error');
}
