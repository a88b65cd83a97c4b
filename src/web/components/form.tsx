// Forms over the API: React Aria's Form and fields (labels, descriptions and errors tied to their
// inputs), validated by the server alone, with its problem+json shown where it belongs — each `errors[].field`
// (`body.email`) under the field of that name, everything else in an alert at the top of the form.
import { createContext, type FormEvent, type ReactNode, useCallback, useContext, useEffect, useRef, useState } from 'react';
import {
  Button,
  type ButtonProps,
  FieldError,
  Form,
  Input,
  Label,
  ListBox,
  ListBoxItem,
  Popover,
  Select,
  SelectValue,
  Text,
  TextField,
  type TextFieldProps,
} from 'react-aria-components';
import { problemOf } from '../api/client';

/** `body.email` → `email`: the form field a server error names. */
const fieldName = (field: string) => field.replace(/^(body|query|path)\./, '');

/** The server's field errors by form field name. */
function fieldErrorsOf(error: unknown): Record<string, string> {
  if (!error) return {};
  const out: Record<string, string> = {};
  for (const e of problemOf(error).errors ?? []) {
    const name = fieldName(e.field);
    out[name] = out[name] ? `${out[name]}; ${e.message}` : e.message;
  }
  return out;
}

/** Tells the form a field was edited (its server error goes). */
const FieldEditedContext = createContext<((name: string) => void) | null>(null);

/** The form's values by field name (strings; checkboxes and switches as "on" when set). */
type FormValues = Record<string, string>;

interface ApiFormProps {
  /** The failed request's error (a mutation's `error`), shown at its fields and in the alert. */
  error: unknown;
  onSubmit(values: FormValues): void;
  children: ReactNode;
  /** A name for the form, for people using a screen reader's form list. */
  'aria-label'?: string;
  className?: string;
}

export function ApiForm({ error, onSubmit, children, className, ...rest }: ApiFormProps) {
  const form = useRef<HTMLFormElement>(null);
  const alert = useRef<HTMLDivElement>(null);
  // A field's error goes as soon as the person edits that field (not on blur, which would move
  // the submit button away from under a click).
  const [edited, setEdited] = useState<{ error: unknown; names: Set<string> }>({ error: null, names: new Set() });
  const editedNames = edited.error === error ? edited.names : new Set<string>();
  const fieldErrors = Object.fromEntries(Object.entries(fieldErrorsOf(error)).filter(([name]) => !editedNames.has(name)));
  const markEdited = useCallback(
    (name: string) =>
      setEdited((prev) =>
        prev.error === error && prev.names.has(name) ? prev : { error, names: new Set([...(prev.error === error ? prev.names : []), name]) },
      ),
    [error],
  );
  const problem = error ? problemOf(error) : null;
  // Errors for fields this form does not have (or none at all) go in the alert.
  const unplaced = problem ? (problem.errors ?? []).filter((e) => !form.current?.elements.namedItem(fieldName(e.field))) : [];
  const hasPlacedErrors = (problem?.errors ?? []).length > unplaced.length;

  useEffect(() => {
    if (!error) return;
    // Focus the first field the server refused, else the alert, so a keyboard user lands on the problem.
    const invalid = form.current?.querySelector<HTMLElement>('[aria-invalid="true"]');
    (invalid ?? alert.current)?.focus();
  }, [error]);

  const submit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const values: FormValues = {};
    new FormData(e.currentTarget).forEach((v, k) => {
      if (typeof v === 'string') values[k] = v;
    });
    onSubmit(values);
  };

  return (
    <Form
      ref={form}
      className={className ?? 'form'}
      // The server's schema is the one validation: its field errors show at the fields (the
      // browser's own checks would keep a corrected field blocked until a second submit).
      validationBehavior="aria"
      validationErrors={fieldErrors}
      onSubmit={submit}
      aria-label={rest['aria-label']}
    >
      {problem && (
        <div ref={alert} className="alert alert-error" role="alert" tabIndex={-1}>
          <p className="alert-title">{hasPlacedErrors ? 'Check the highlighted fields.' : problem.title}</p>
          {!hasPlacedErrors && problem.detail && <p>{problem.detail}</p>}
          {unplaced.length > 0 && (
            <ul>
              {unplaced.map((e) => (
                <li key={e.field}>
                  {e.field}: {e.message}
                </li>
              ))}
            </ul>
          )}
        </div>
      )}
      <FieldEditedContext.Provider value={markEdited}>{children}</FieldEditedContext.Provider>
    </Form>
  );
}

interface TextInputProps extends Omit<TextFieldProps, 'children'> {
  label: string;
  description?: ReactNode;
  placeholder?: string;
  inputMode?: 'text' | 'numeric' | 'email' | 'url';
}

export function TextInput({ label, description, placeholder, inputMode, className, onChange, ...props }: TextInputProps) {
  const markEdited = useContext(FieldEditedContext);
  return (
    <TextField
      {...props}
      onChange={(value) => {
        if (props.name) markEdited?.(props.name);
        onChange?.(value);
      }}
      className={typeof className === 'string' ? className : 'field'}
    >
      <Label>{label}</Label>
      <Input placeholder={placeholder} inputMode={inputMode} />
      {description && <Text slot="description">{description}</Text>}
      <FieldError />
    </TextField>
  );
}

/**
 * A form's submit button. While its request runs it stays focusable but submits nothing (React
 * Aria's own isPending is not used: it announces through a live region that points at the
 * button, which is gone once the page changes, leaving a nameless node behind).
 */
export function SubmitButton({ children, isPending, ...props }: Omit<ButtonProps, 'children'> & { children: ReactNode }) {
  return (
    <Button type={isPending ? 'button' : 'submit'} className="button button-primary" aria-disabled={isPending || undefined} {...props}>
      {isPending ? <span aria-hidden="true">…</span> : null}
      {children}
    </Button>
  );
}

interface Option {
  id: string;
  label: string;
  description?: string;
}

interface SelectFieldProps {
  label: string;
  name?: string;
  options: Option[];
  value?: string;
  defaultValue?: string;
  onChange?(value: string): void;
  description?: string;
  isDisabled?: boolean;
  className?: string;
  /** Hide the label visually (it stays the field's accessible name). */
  isLabelHidden?: boolean;
}

export function SelectField({ label, name, options, value, defaultValue, onChange, description, isDisabled, className, isLabelHidden }: SelectFieldProps) {
  const markEdited = useContext(FieldEditedContext);
  return (
    <Select
      className={className ?? 'field'}
      name={name}
      value={value}
      defaultValue={defaultValue}
      onChange={(key) => {
        if (name) markEdited?.(name);
        if (key !== null) onChange?.(String(key));
      }}
      isDisabled={isDisabled}
    >
      <Label className={isLabelHidden ? 'visually-hidden' : undefined}>{label}</Label>
      <Button className="select-button">
        <SelectValue />
        <span aria-hidden="true" className="select-chevron">
          ▾
        </span>
      </Button>
      {description && <Text slot="description">{description}</Text>}
      <FieldError />
      <Popover className="popover">
        <ListBox className="listbox" items={options}>
          {(o) => (
            <ListBoxItem id={o.id} textValue={o.label} className="listbox-item">
              <Text slot="label">{o.label}</Text>
              {o.description && (
                <Text slot="description" className="listbox-item-description">
                  {o.description}
                </Text>
              )}
            </ListBoxItem>
          )}
        </ListBox>
      </Popover>
    </Select>
  );
}
