import type { TimelineEvent } from '@cordon/api-client';
import { Button, Group, MultiSelect, Stack, Text } from '@mantine/core';
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { DataTable } from 'mantine-datatable';
import { useState } from 'react';
import { api, keys, ok } from '../api';
import { Time } from './Time';
import { ActionLink } from './ActionDetail';
import { PackageDownloadButton } from './ActionsTable';
import { ErrorState } from './QueryState';

const EVENT_TYPES = [
  { value: 'ActionSubmitted', label: 'Action submitted' },
  { value: 'ActionStateChanged', label: 'Action state changed' },
  { value: 'PackageAvailable', label: 'Package available' },
  { value: 'AgentOnline', label: 'Agent online' },
  { value: 'AgentOffline', label: 'Agent offline' },
  { value: 'AgentEnrolled', label: 'Agent enrolled' },
  { value: 'TagAdded', label: 'Tag added' },
  { value: 'TagRemoved', label: 'Tag removed' },
  { value: 'InventoryChanged', label: 'Inventory changed' },
  { value: 'CommandRefused', label: 'Command refused' },
  { value: 'IsolationReleasedOnDevice', label: 'Released on the device' },
  { value: 'RestrictionGuardFailed', label: 'App restriction gap' },
  { value: 'ReleaseTokenIssued', label: 'Release token issued' },
  { value: 'CredentialRevoked', label: 'Credential revoked' },
  { value: 'CredentialInUseTwice', label: 'Credential used twice' },
];
const PAGE_SIZE = 25;

/** The device's history, newest first: actions and their states, the agent coming and going, packages, tags. */
export function Timeline({ machineId }: { machineId: string }) {
  const [types, setTypes] = useState<string[]>([]);
  const [page, setPage] = useState(0);
  // One row more than shown tells whether there is a next page.
  const query = { $top: PAGE_SIZE + 1, $skip: page * PAGE_SIZE, eventType: types.length ? types.join(',') : undefined };
  const events = useQuery({
    queryKey: keys.timeline(machineId, query),
    queryFn: () => ok(api.GET('/api/machines/{id}/timeline', { params: { path: { id: machineId }, query } })),
    placeholderData: keepPreviousData,
  });
  const rows = (events.data?.value ?? []).slice(0, PAGE_SIZE);
  const hasNext = (events.data?.value.length ?? 0) > PAGE_SIZE;

  return (
    <Stack gap="xs">
      <MultiSelect
        label="Event types"
        placeholder={types.length ? undefined : 'All events'}
        data={EVENT_TYPES}
        value={types}
        onChange={(v) => {
          setTypes(v);
          setPage(0);
        }}
        clearable
        maw={520}
      />
      {events.error && <ErrorState error={events.error} onRetry={() => void events.refetch()} />}
      <div data-testid="timeline-table">
        <DataTable<TimelineEvent>
          withTableBorder
          minHeight={160}
          fetching={events.isFetching}
          records={rows}
          noRecordsText={types.length ? 'No event of these types' : 'Nothing has happened on this device yet'}
          columns={[
            { accessor: 'time', title: 'Time', render: (e) => <Time value={e.time} />, width: 190 },
            { accessor: 'eventType', title: 'Event', render: (e) => EVENT_TYPES.find((t) => t.value === e.eventType)?.label ?? e.eventType, width: 190 },
            {
              accessor: 'title',
              title: 'Details',
              // An action's events open the action, and say why it was taken.
              render: (e) =>
                e.actionId ? (
                  <>
                    <ActionLink id={e.actionId}>{e.title}</ActionLink>
                    {e.actionComment && (
                      <Text size="xs" c="dimmed" lineClamp={2} title={e.actionComment} style={{ wordBreak: 'break-word' }} data-testid="timeline-action-comment">
                        “{e.actionComment}”
                      </Text>
                    )}
                  </>
                ) : (
                  <Text size="sm">{e.title}</Text>
                ),
            },
            { accessor: 'actor', title: 'By', render: (e) => e.actor ?? '—', width: 140 },
            {
              accessor: 'actionId',
              title: '',
              width: 190,
              render: (e) => (e.eventType === 'PackageAvailable' && e.actionId ? <PackageDownloadButton actionId={e.actionId} /> : null),
            },
          ]}
        />
      </div>
      <Group justify="end" gap="xs">
        <Text size="sm" c="dimmed">
          Page {page + 1}
        </Text>
        <Button size="xs" variant="default" disabled={page === 0} onClick={() => setPage((p) => p - 1)}>
          Newer
        </Button>
        <Button size="xs" variant="default" disabled={!hasNext} onClick={() => setPage((p) => p + 1)}>
          Older
        </Button>
      </Group>
    </Stack>
  );
}
