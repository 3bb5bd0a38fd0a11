import type { MachineAction } from '@cordon/api-client';
import { Button, Group, MultiSelect, Stack, TextInput, Title } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { IconFileExport } from '@tabler/icons-react';
import { useState } from 'react';
import { useSearchParams } from 'react-router';
import { useAddressText, useSetParams } from '../address';
import { api, literal, messageOf, ok } from '../api';
import { ActionsTable } from '../components/ActionsTable';
import { actionsCsv } from '../csv';
import { useActionTypes } from '../action-types';
import { statusLabel } from '../components/StateBadges';

const STATUSES = ['Pending', 'InProgress', 'Succeeded', 'Failed', 'TimeOut', 'Cancelled'];
/** Enough for any real incident; a bigger export is better done through the API. */
const EXPORT_LIMIT = 100_000;

const list = (p: URLSearchParams, key: string) => (p.get(key) ? p.get(key)!.split(',').filter(Boolean) : []);

function filterOf(p: URLSearchParams): string | undefined {
  const parts: string[] = [];
  const status = list(p, 'status');
  if (status.length) parts.push(`status in (${status.map(literal).join(',')})`);
  const type = list(p, 'type');
  if (type.length) parts.push(`type in (${type.map(literal).join(',')})`);
  const device = p.get('device');
  if (device) parts.push(`startswith(computerDnsName,${literal(device)})`);
  const user = p.get('user');
  // As the device filter: the start of the name, in any case ('adm' finds admin).
  if (user) parts.push(`startswith(requestor,${literal(user)})`);
  const from = p.get('from');
  if (from && !Number.isNaN(Date.parse(from))) parts.push(`creationDateTimeUtc ge ${new Date(from).toISOString()}`);
  const to = p.get('to');
  if (to && !Number.isNaN(Date.parse(to))) parts.push(`creationDateTimeUtc le ${new Date(to).toISOString()}`);
  return parts.length ? parts.join(' and ') : undefined;
}

/** Every action matching the filter, as CSV; formula-looking cells are defused for spreadsheets. */
async function exportCsv(filter: string | undefined): Promise<{ rows: number; truncated: boolean }> {
  const rows: MachineAction[] = [];
  // Actions submitted while the export pages through the list would shift its pages: leave them out.
  const asOf = `creationDateTimeUtc le ${new Date().toISOString()}`;
  const pinned = filter ? `(${filter}) and ${asOf}` : asOf;
  let truncated = false;
  for (let skip = 0; ; skip += 10_000) {
    const page = await ok(api.GET('/api/machineactions', { params: { query: { $filter: pinned, $top: 10_000, $skip: skip } } }));
    rows.push(...page.value);
    if (page.value.length < 10_000) break;
    if (rows.length >= EXPORT_LIMIT) {
      truncated = true;
      break;
    }
  }
  const csv = actionsCsv(rows);
  const url = URL.createObjectURL(new Blob([csv], { type: 'text/csv;charset=utf-8' }));
  const link = document.createElement('a');
  link.href = url;
  link.download = `cordon-actions-${new Date().toISOString().slice(0, 19).replace(/:/g, '')}.csv`;
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  return { rows: rows.length, truncated };
}

export function ActionCenterPage() {
  const types = useActionTypes();
  const [params] = useSearchParams();
  const set = useSetParams();
  const [device, setDevice] = useAddressText('device', set);
  const [user, setUser] = useAddressText('user', set);
  const [exporting, setExporting] = useState(false);

  const filter = filterOf(params);
  return (
    <Stack>
      <Group justify="space-between">
        <Title order={2}>Action center</Title>
        <Button
          leftSection={<IconFileExport size={16} />}
          variant="light"
          loading={exporting}
          data-testid="export-csv"
          onClick={() => {
            setExporting(true);
            exportCsv(filter)
              .then((r) =>
                notifications.show(
                  r.truncated
                    ? { color: 'yellow', title: 'Export cut short', message: `Exported the newest ${r.rows} actions only; narrow the filters, or page through the API for more.` }
                    : { color: 'green', message: `Exported ${r.rows} action(s)` },
                ),
              )
              .catch((e: unknown) => notifications.show({ color: 'red', title: 'Export failed', message: messageOf(e) }))
              .finally(() => setExporting(false));
          }}
        >
          Export CSV
        </Button>
      </Group>
      <Group align="end" gap="sm" data-testid="action-filters">
        <MultiSelect label="Status" placeholder={list(params, 'status').length ? undefined : 'Any'} data={STATUSES.map((v) => ({ value: v, label: statusLabel(v) }))} value={list(params, 'status')} onChange={(v) => set({ status: v.join(',') || null })} clearable w={200} />
        <MultiSelect label="Action" placeholder={list(params, 'type').length ? undefined : 'Any'} data={types.data?.value.map((t) => ({ value: t.type, label: t.label })) ?? []} value={list(params, 'type')} onChange={(v) => set({ type: v.join(',') || null })} clearable w={220} />
        <TextInput label="Device" placeholder="Name starts with" value={device} onChange={(e) => setDevice(e.currentTarget.value)} w={160} />
        <TextInput label="Submitted by" placeholder="User" value={user} onChange={(e) => setUser(e.currentTarget.value)} w={140} />
        <TextInput label="From" type="datetime-local" value={params.get('from') ?? ''} onChange={(e) => set({ from: e.currentTarget.value || null })} w={190} />
        <TextInput label="To" type="datetime-local" value={params.get('to') ?? ''} onChange={(e) => set({ to: e.currentTarget.value || null })} w={190} />
      </Group>
      <ActionsTable filter={filter} showDevice pageSize={50} />
    </Stack>
  );
}
