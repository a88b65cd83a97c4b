// How a lead's and a delivery's state read to a marketer: words first (colour only repeats them).
import type { DeliveryRollup, LeadStatusFilter } from './lead-filters';

const LEAD_STATUS_LABELS: Record<LeadStatusFilter, string> = {
  delivered: 'Delivered',
  failed: 'Failed',
  pending: 'Pending',
  parked: 'Waiting for re-authorisation',
  unrouted: 'Unrouted',
  routed: 'Routed',
};

export const leadStatusLabel = (s: LeadStatusFilter) => LEAD_STATUS_LABELS[s];

const DELIVERY_LABELS: Record<string, string> = {
  delivered: 'Delivered',
  dead: 'Failed',
  pending: 'Sending',
  parked: 'Waiting for re-authorisation',
};

export const deliveryStatusLabel = (s: string) => DELIVERY_LABELS[s] ?? s;

const TONE: Record<string, string> = {
  delivered: 'ok',
  failed: 'bad',
  dead: 'bad',
  parked: 'warn',
  pending: 'info',
  unrouted: 'warn',
};

export function StatusBadge({ status, label }: { status: DeliveryRollup | string; label: string }) {
  return <span className={`status status-${TONE[status] ?? 'info'}`}>{label}</span>;
}

const OUTCOME_LABELS: Record<string, string> = {
  delivered: 'delivered',
  retry: 'failed, will retry',
  rate_limited: 'rate limited, will retry',
  auth: 'refused the credentials: waits for re-authorisation',
  dead: 'failed for good (dead letter)',
};

export const outcomeLabel = (outcome: string | undefined) => (outcome ? (OUTCOME_LABELS[outcome] ?? outcome) : 'unknown');
