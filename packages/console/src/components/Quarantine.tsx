import type { AlertEvidence, Machine, MachineAction, QuarantinedFile } from '@cordon/api-client';
import { ActionIcon, Badge, Button, Code, CopyButton, Group, Stack, Text, Tooltip } from '@mantine/core';
import { IconCheck, IconCopy, IconShieldX } from '@tabler/icons-react';
import { useQuery } from '@tanstack/react-query';
import { DataTable } from 'mantine-datatable';
import { useState } from 'react';
import { api, keys, literal, ok } from '../api';
import { useCatalogAction } from '../action-types';
import { formatBytes } from '../format';
import { useCan } from '../session';
import { ActionDialog } from './ActionDialog';
import { ActionLink } from './ActionDetail';
import { ErrorState } from './QueryState';
import { ActionStatus } from './StateBadges';
import { Time } from './Time';

const useMachine = (id: string) => useQuery({ queryKey: keys.machine(id), queryFn: () => ok(api.GET('/api/machines/{id}', { params: { path: { id } } })) });

/** A hash as a short code, the whole of it in a tooltip and a copy button. */
export function ShortHash({ value }: { value: string }) {
  return (
    <Group gap={2} wrap="nowrap">
      <Tooltip label={value}>
        <Code data-testid="short-hash">{value.slice(0, 12)}…</Code>
      </Tooltip>
      <CopyButton value={value}>
        {({ copied, copy }) => (
          <ActionIcon variant="subtle" size="sm" onClick={copy} aria-label={copied ? 'Copied' : 'Copy SHA-256'}>
            {copied ? <IconCheck size={14} /> : <IconCopy size={14} />}
          </ActionIcon>
        )}
      </CopyButton>
    </Group>
  );
}

/** Which hash of a File evidence the quarantine is asked with: SHA-256 when there is one (as MDE prefers), else SHA-1. */
const hashOf = (e: AlertEvidence): { sha256: string } | { sha1: string } | null => (e.sha256 ? { sha256: e.sha256 } : e.sha1 ? { sha1: e.sha1 } : null);

/**
 * "Stop and quarantine file" for one File evidence of an alert on an enrolled device: for users who
 * may submit actions; then the latest such action on this file's hash, with its state and a link to it.
 */
export function QuarantineFromEvidence({ machineId, evidence }: { machineId: string; evidence: AlertEvidence }) {
  const can = useCan();
  const action = useCatalogAction('StopAndQuarantineFile');
  const machine = useMachine(machineId);
  const [open, setOpen] = useState(false);
  const hash = hashOf(evidence);
  if (evidence.entityType !== 'File' || !hash) return null;
  const m = machine.data && 'id' in machine.data ? machine.data : undefined;
  return (
    <Stack gap={4} align="start">
      {can('actions.submit') && action && m && (
        <Button size="compact-xs" variant="light" color="red" leftSection={<IconShieldX size={14} />} onClick={() => setOpen(true)} data-testid="quarantine-file">
          {action.label}
        </Button>
      )}
      <LatestQuarantine machineId={machineId} hash={hash} />
      {open && action && m && (
        <ActionDialog machine={m} request={{ action }} onClose={() => setOpen(false)} fields={{ ...hash, ...(evidence.filePath?.startsWith('/') ? { path: evidence.filePath } : {}) }}>
          <QuarantineWhat evidence={evidence} />
        </ActionDialog>
      )}
    </Stack>
  );
}

/** The file the action is about, as the alert names it. */
function QuarantineWhat({ evidence }: { evidence: AlertEvidence }) {
  return (
    <Stack gap={4} data-testid="quarantine-what">
      {evidence.filePath && (
        <Text size="sm" style={{ overflowWrap: 'anywhere' }}>
          File: <Code>{evidence.filePath}</Code>
        </Text>
      )}
      <Text size="sm" style={{ overflowWrap: 'anywhere' }}>
        {evidence.sha256 ? 'SHA-256' : 'SHA-1'}: <Code>{evidence.sha256 ?? evidence.sha1}</Code>
      </Text>
    </Stack>
  );
}

/** The newest StopAndQuarantineFile on the device asked with this hash, linked to its detail: its state, live (every action change refetches it). */
function LatestQuarantine({ machineId, hash }: { machineId: string; hash: { sha256: string } | { sha1: string } }) {
  const query = { $filter: `machineId eq ${literal(machineId)} and type eq 'StopAndQuarantineFile'`, $top: 100 };
  const actions = useQuery({ queryKey: keys.actions(query), queryFn: () => ok(api.GET('/api/machineactions', { params: { query } })) });
  const [field, value] = 'sha256' in hash ? ['sha256', hash.sha256.toLowerCase()] : ['sha1', hash.sha1.toLowerCase()];
  const latest = actions.data?.value.find((a: MachineAction) => String((a.parameters as Record<string, unknown> | null)?.[field] ?? '').toLowerCase() === value);
  if (!latest) return null;
  return (
    <Group gap={6} wrap="nowrap" data-testid="quarantine-action">
      <ActionLink id={latest.id}>Quarantine action</ActionLink>
      <ActionStatus action={latest} />
    </Group>
  );
}

/** The device page's Quarantine tab: every file its agent moved into its vault, newest first, each quarantined one restorable. */
export function QuarantineList({ machine }: { machine: Machine }) {
  const can = useCan();
  const restore = useCatalogAction('RestoreQuarantinedFile');
  const list = useQuery({ queryKey: keys.quarantine(machine.id), queryFn: () => ok(api.GET('/api/machines/{id}/quarantine', { params: { path: { id: machine.id } } })) });
  const [restoring, setRestoring] = useState<QuarantinedFile | null>(null);
  return (
    <Stack gap="xs">
      {list.error && <ErrorState error={list.error} onRetry={() => void list.refetch()} />}
      <div data-testid="quarantine-table">
        <DataTable<QuarantinedFile>
          records={list.data?.value ?? []}
          fetching={list.isPending}
          idAccessor="quarantineId"
          withTableBorder
          minHeight={list.data?.value.length ? undefined : 140}
          noRecordsText="No file of this device is in quarantine"
          columns={[
            {
              accessor: 'fileName',
              title: 'File',
              render: (f) => (
                <>
                  <Text size="sm" fw={500}>
                    {f.fileName}
                  </Text>
                  <Text size="xs" c="dimmed" style={{ overflowWrap: 'anywhere' }} data-testid="quarantine-path">
                    {f.filePath}
                  </Text>
                </>
              ),
            },
            { accessor: 'sha256', title: 'SHA-256', render: (f) => <ShortHash value={f.sha256} /> },
            { accessor: 'size', title: 'Size', noWrap: true, render: (f) => formatBytes(f.size) },
            {
              accessor: 'quarantinedAt',
              title: 'Quarantined',
              render: (f) => (
                <>
                  <Time value={f.quarantinedAt} />
                  <Text size="xs" c="dimmed">
                    by {f.quarantinedBy} · <ActionLink id={f.actionId}>action</ActionLink>
                  </Text>
                </>
              ),
            },
            {
              accessor: 'state',
              title: 'State',
              width: 130,
              render: (f) =>
                f.state === 'Restored' ? (
                  <>
                    <Badge variant="light" color="gray" tt="none" data-testid="quarantine-state">
                      Restored
                    </Badge>
                    <Text size="xs" c="dimmed">
                      <Time value={f.restoredAt} /> by {f.restoredBy}
                    </Text>
                  </>
                ) : (
                  <Badge variant="light" color="orange" tt="none" data-testid="quarantine-state" style={{ overflow: 'visible' }}>
                    Quarantined
                  </Badge>
                ),
            },
            {
              accessor: 'actions',
              title: '',
              render: (f) =>
                f.state === 'Quarantined' && can('actions.submit') && restore ? (
                  <Button size="compact-xs" variant="light" onClick={() => setRestoring(f)} data-testid="restore-file">
                    Restore
                  </Button>
                ) : null,
            },
          ]}
        />
      </div>
      {restoring && restore && (
        <ActionDialog machine={machine} request={{ action: restore }} onClose={() => setRestoring(null)} fields={{ quarantineId: restoring.quarantineId }}>
          <Text size="sm" style={{ overflowWrap: 'anywhere' }}>
            File: <Code>{restoring.filePath}</Code>
          </Text>
        </ActionDialog>
      )}
    </Stack>
  );
}
