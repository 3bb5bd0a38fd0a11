import { Badge, Button, Group, Progress, Text } from '@mantine/core';
import { useState } from 'react';
import type { Machine, MachineAction } from '@cordon/api-client';

const RISK_COLORS: Record<string, string> = { High: 'red', Medium: 'orange', Low: 'yellow', Informational: 'blue', None: 'gray' };
const STATUS_COLORS: Record<string, string> = { Pending: 'gray', InProgress: 'blue', Succeeded: 'green', Failed: 'red', TimeOut: 'orange', Cancelled: 'dark' };
/** Action statuses as people say them; the API's names stay in filters, addresses and exports. */
export const STATUS_LABELS: Record<string, string> = { Pending: 'Pending', InProgress: 'In progress', Succeeded: 'Succeeded', Failed: 'Failed', TimeOut: 'Timed out', Cancelled: 'Cancelled' };
export const statusLabel = (status: string): string => STATUS_LABELS[status] ?? status;

export function HealthBadge({ machine }: { machine: Pick<Machine, 'healthStatus'> }) {
  return (
    <Badge color={machine.healthStatus === 'Active' ? 'green' : 'gray'} variant="light" style={{ flexShrink: 0, overflow: 'visible' }}>
      {machine.healthStatus}
    </Badge>
  );
}

export function RiskBadge({ risk, short = false }: { risk: string; short?: boolean }) {
  return (
    <Badge color={RISK_COLORS[risk] ?? 'gray'} variant="light" data-testid="risk-badge" data-risk={risk} style={{ flexShrink: 0, overflow: 'visible' }}>
      {short ? risk : `Risk: ${risk}`}
    </Badge>
  );
}

/** An alert's severity, in the risk colours (a device's risk is its highest open alert's severity). */
export function SeverityBadge({ severity }: { severity: string }) {
  return (
    <Badge color={RISK_COLORS[severity] ?? 'gray'} variant="filled" tt="none" data-testid="alert-severity" data-severity={severity} style={{ flexShrink: 0, overflow: 'visible' }}>
      {severity}
    </Badge>
  );
}

const ALERT_STATUS_COLORS: Record<string, string> = { New: 'blue', InProgress: 'yellow', Resolved: 'green' };
/** Alert statuses as people say them; the API's names stay in filters and addresses. */
export const ALERT_STATUS_LABELS: Record<string, string> = { New: 'New', InProgress: 'In progress', Resolved: 'Resolved' };

export function AlertStatusBadge({ status }: { status: string }) {
  return (
    <Badge color={ALERT_STATUS_COLORS[status] ?? 'gray'} variant="light" tt="none" data-testid="alert-status" data-status={status} style={{ flexShrink: 0, overflow: 'visible' }}>
      {ALERT_STATUS_LABELS[status] ?? status}
    </Badge>
  );
}

export function IsolationBadge({ state }: { state: string }) {
  if (state === 'NotIsolated') return null;
  return (
    <Badge color={state === 'Isolated' ? 'red' : 'yellow'} variant="filled" data-testid="isolation-badge">
      {state === 'Isolated' ? 'Isolated' : 'Isolation pending'}
    </Badge>
  );
}

/** Restricted, or pending; orange when the guard is restarting (programs start unchecked meanwhile). */
export function RestrictionBadge({ machine }: { machine: Pick<Machine, 'restrictionState' | 'restriction'> }) {
  if (machine.restrictionState === 'Unrestricted') return null;
  const restarting = machine.restrictionState === 'Restricted' && machine.restriction?.guard === 'restarting';
  return (
    <Badge color={restarting ? 'orange' : 'violet'} variant="light" data-testid="restriction-badge" data-state={machine.restrictionState}>
      {machine.restrictionState === 'Pending' ? 'Restriction pending' : restarting ? 'App execution restricted (guard restarting)' : 'App execution restricted'}
    </Badge>
  );
}

export function MachineBadges({ machine }: { machine: Machine }) {
  return (
    <Group gap="xs">
      <HealthBadge machine={machine} />
      <IsolationBadge state={machine.isolationState} />
      <RestrictionBadge machine={machine} />
      <RiskBadge risk={machine.riskScore} />
    </Group>
  );
}

export function ActionStatus({ action }: { action: Pick<MachineAction, 'status' | 'progress' | 'error'> }) {
  const badge = (
    <Badge color={STATUS_COLORS[action.status] ?? 'gray'} variant="light" tt="none" data-testid="action-status" data-status={action.status} style={{ flexShrink: 0, overflow: 'visible' }}>
      {statusLabel(action.status)}
    </Badge>
  );
  if (action.status === 'InProgress' && action.progress) {
    // Said, not only drawn: "29% Collecting Processes (5/13)" is what the analyst waits on. Agents
    // may report fractions (a scan's bytes read of its estimate): whole percents are shown.
    const percent = Math.floor(action.progress.percent);
    const text = `${percent}%${action.progress.message ? ` ${action.progress.message}` : ''}`;
    return (
      <div>
        {badge}
        <Progress value={action.progress.percent} size="xs" mt={4} aria-label={`${percent}% done`} />
        <Text size="xs" c="dimmed" mt={2} data-testid="action-progress">
          {text}
        </Text>
      </div>
    );
  }
  return badge;
}

/** A device's tags; past `max` of them, the rest wait behind "+N more" so a long list does not push the page about. */
export function Tags({ tags, max = Infinity }: { tags: string[]; max?: number }) {
  const [all, setAll] = useState(false);
  if (tags.length === 0) return <Text c="dimmed" size="sm">No tags</Text>;
  const shown = all || tags.length <= max ? tags : tags.slice(0, max);
  return (
    <Group gap={4}>
      {shown.map((t) => (
        <Badge key={t} variant="outline" tt="none" maw={220} title={t}>
          {t}
        </Badge>
      ))}
      {tags.length > max && (
        <Button size="compact-xs" variant="subtle" onClick={() => setAll(!all)} data-testid="more-tags">
          {all ? 'Fewer' : `+${tags.length - max} more`}
        </Button>
      )}
    </Group>
  );
}
