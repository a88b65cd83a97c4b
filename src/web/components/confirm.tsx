// A confirmation before something that cannot be undone (revoking a key, removing a member):
// React Aria's modal dialog, which traps focus, closes on Escape and returns focus to its button.
import type { ReactNode } from 'react';
import { Button, Dialog, DialogTrigger, Heading, Modal, ModalOverlay } from 'react-aria-components';

interface ConfirmProps {
  /** The button that opens the dialog. */
  trigger: string;
  /** The trigger's accessible name when its text alone is ambiguous in a list ("Revoke key build-bot"). */
  triggerLabel?: string;
  title: string;
  children: ReactNode;
  confirm: string;
  onConfirm(): void;
  isDanger?: boolean;
}

export function ConfirmButton({ trigger, triggerLabel, title, children, confirm, onConfirm, isDanger = true }: ConfirmProps) {
  return (
    <DialogTrigger>
      <Button className={`button${isDanger ? ' button-danger' : ''}`} aria-label={triggerLabel}>
        {trigger}
      </Button>
      <ModalOverlay className="modal-overlay" isDismissable>
        <Modal className="modal">
          <Dialog className="dialog" role="alertdialog">
            {({ close }) => (
              <>
                <Heading slot="title">{title}</Heading>
                <div className="dialog-body">{children}</div>
                <div className="dialog-actions">
                  <Button className="button" onPress={close} autoFocus>
                    Cancel
                  </Button>
                  <Button
                    className={`button ${isDanger ? 'button-danger' : 'button-primary'}`}
                    onPress={() => {
                      close();
                      onConfirm();
                    }}
                  >
                    {confirm}
                  </Button>
                </div>
              </>
            )}
          </Dialog>
        </Modal>
      </ModalOverlay>
    </DialogTrigger>
  );
}
