// A searchable picker (React Aria's ComboBox): type to filter a long list (a CRM has hundreds of
// fields), arrows and Enter to choose, Escape to close. Each option may carry a second line.
import { useState } from 'react';
import { Button, ComboBox, Input, Label, ListBox, ListBoxItem, Popover, Text } from 'react-aria-components';

export interface PickerOption {
  id: string;
  label: string;
  description?: string;
}

interface FieldPickerProps {
  label: string;
  options: PickerOption[];
  value: string | null;
  onChange(id: string): void;
  description?: string;
  isInvalid?: boolean;
  className?: string;
}

export function FieldPicker({ label, options, value, onChange, description, isInvalid, className }: FieldPickerProps) {
  const labelOf = (id: string | null) => (id === null ? '' : (options.find((o) => o.id === id)?.label ?? id));
  // Both the choice and the typed text are held here: React Aria then leaves the text alone while
  // the page around it re-renders, and hands it back to us on a choice or on leaving the field.
  const [text, setText] = useState(() => labelOf(value));
  const [textFor, setTextFor] = useState(value);
  if (textFor !== value) {
    setTextFor(value);
    setText(labelOf(value));
  }
  return (
    <ComboBox
      className={className ?? 'field combo'}
      defaultItems={options}
      value={value}
      inputValue={text}
      onInputChange={setText}
      onChange={(key) => {
        if (key === null) return;
        setText(labelOf(String(key)));
        if (String(key) !== value) onChange(String(key));
      }}
      isInvalid={isInvalid}
    >
      <Label>{label}</Label>
      <div className="combo-input">
        <Input />
        <Button className="combo-button" aria-label={`Show every choice for ${label}`}>
          <span aria-hidden="true">▾</span>
        </Button>
      </div>
      {description && <Text slot="description">{description}</Text>}
      <Popover className="popover">
        <ListBox className="listbox" renderEmptyState={() => <p className="listbox-empty">Nothing matches.</p>}>
          {(o: PickerOption) => (
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
    </ComboBox>
  );
}
