import type { Alert } from '@cordon/api-client';
import { Anchor, Stack, Text } from '@mantine/core';
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { DataTable, type DataTableColumn } from 'mantine-datatable';
import { useState } from 'react';
import { Link } from 'react-router';
import { api, keys, ok } from '../api';
import { pagedTableProps } from './paged';
import { ErrorState } from './QueryState';
import { AlertStatusBadge, SeverityBadge } from './StateBadges';
import { Ago } from './Time';

/** The device an alert is on: its page, or the host name it named while that host has not enrolled. */
export function AlertDevice({ alert }: { alert: Pick<Alert, 'machineId' | 'computerDnsName'> }) {
  if (alert.machineId) {
    return (
      <Anchor component={Link} to={`/devices/${alert.machineId}`} size="sm" style={{ overflowWrap: 'break-word' }}>
        {alert.computerDnsName ?? alert.machineId}
      </Anchor>
    );
  }
  return (
    <Text size="sm" c="dimmed" title="This host has not enrolled yet: the alert is joined to its device when it does" style={{ overflowWrap: 'break-word' }}>
      {alert.computerDnsName ?? 'Unknown host'} (not enrolled)
    </Text>
  );
}

/** The alert table's columns, as the queue and a device's Alerts tab show them; `sortable` where the API sorts. */
export function alertColumns({ showDevice, sortable }: { showDevice: boolean; sortable: boolean }): DataTableColumn<Alert>[] {
  const columns: (DataTableColumn<Alert> | false)[] = [
    { accessor: 'severity', title: 'Severity', sortable, width: 105, render: (a) => <SeverityBadge severity={a.severity} /> },
    { accessor: 'status', title: 'Status', sortable, width: 115, render: (a) => <AlertStatusBadge status={a.status} /> },
    {
      accessor: 'title',
      title: 'Title',
      sortable,
      render: (a) => (
        <Anchor component={Link} to={`/alerts/${a.id}`} size="sm" style={{ overflowWrap: 'break-word' }} data-testid="alert-title">
          {a.title}
        </Anchor>
      ),
    },
    showDevice && { accessor: 'computerDnsName', title: 'Device', sortable, render: (a) => <AlertDevice alert={a} /> },
    { accessor: 'detectionSource', title: 'Source', sortable },
    { accessor: 'category', title: 'Category', sortable, render: (a) => a.category ?? '—' },
    {
      accessor: 'assignedTo',
      title: 'Assigned to',
      sortable,
      render: (a) =>
        a.assignedTo ?? (
          <Text size="sm" c="dimmed">
            Unassigned
          </Text>
        ),
    },
    { accessor: 'eventCount', title: 'Events', textAlign: 'right', width: 80 },
    {
      accessor: 'alertCreationTime',
      title: 'Created',
      sortable,
      noWrap: true,
      render: (a) => (
        <Text size="sm">
          <Ago value={a.alertCreationTime} />
        </Text>
      ),
    },
  ];
  return columns.filter((c): c is DataTableColumn<Alert> => c !== false);
}

const PAGE_SIZE = 25;

/** A device's alerts, newest first, paged by the API; live updates refresh them with every alert list. */
export function DeviceAlerts({ machineId }: { machineId: string }) {
  const [page, setPage] = useState(1);
  const query = { $top: PAGE_SIZE, $skip: (page - 1) * PAGE_SIZE, $count: 'true' as const };
  const list = useQuery({
    queryKey: keys.alerts({ machineId, ...query }),
    queryFn: () => ok(api.GET('/api/machines/{id}/alerts', { params: { path: { id: machineId }, query } })),
    placeholderData: keepPreviousData,
  });
  return (
    <Stack gap="xs">
      {list.error && <ErrorState error={list.error} onRetry={() => void list.refetch()} />}
      <div data-testid="device-alerts-table">
        <DataTable<Alert> {...pagedTableProps(list)} minHeight={160} recordsPerPage={PAGE_SIZE} page={page} onPageChange={setPage} noRecordsText="No alert on this device" columns={alertColumns({ showDevice: false, sortable: false })} />
      </div>
    </Stack>
  );
}
