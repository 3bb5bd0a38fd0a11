import type { Machine } from '@cordon/api-client';
import { Anchor, Badge, Button, Group, Modal, MultiSelect, Select, Stack, Text, TextInput, Title } from '@mantine/core';
import { useDisclosure } from '@mantine/hooks';
import { notifications } from '@mantine/notifications';
import { IconTag, IconTagOff } from '@tabler/icons-react';
import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { DataTable, type DataTableSortStatus } from 'mantine-datatable';
import { useState } from 'react';
import { Link, useSearchParams } from 'react-router';
import { useAddressText, useSetParams, type ParamChanges } from '../address';
import { api, keys, literal, messageOf, ok } from '../api';
import { pagedTableProps } from '../components/paged';
import { ReasonButton } from '../components/ReasonButton';
import { ErrorState } from '../components/QueryState';
import { HealthBadge, IsolationBadge, RiskBadge, Tags } from '../components/StateBadges';
import { Ago } from '../components/Time';
import { useCan } from '../session';
import { useActionTypes } from '../action-types';

const PAGE_SIZE = 50;
const SORTABLE = ['computerDnsName', 'osPlatform', 'lastIpAddress', 'riskScore', 'lastSeen'] as const;

/** The devices list's filters, kept in the address so a filtered view can be shared and reloaded. */
function filterOf(p: URLSearchParams): string | undefined {
  const parts: string[] = [];
  const tag = p.get('tag');
  // Any part of a tag, in any case: `ux` finds `ux-review`.
  if (tag) parts.push(`machineTags/any(t: contains(t,${literal(tag)}))`);
  const os = p.get('os');
  if (os) parts.push(`(startswith(osPlatform,${literal(os)}) or startswith(osVersion,${literal(os)}))`);
  const risks = (p.get('risk') ?? '').split(',').filter(Boolean);
  if (risks.length) parts.push(`riskScore in (${risks.map(literal).join(',')})`);
  for (const [param, field] of [
    ['health', 'healthStatus'],
    ['isolation', 'isolationState'],
  ] as const) {
    const v = p.get(param);
    if (v) parts.push(`${field} eq ${literal(v)}`);
  }
  // What a device could or could not do if an incident came now (its agent, what the device has).
  const can = p.get('can');
  if (can) parts.push(`usableActions/any(a: a eq ${literal(can)})`);
  const cannot = p.get('cannot');
  if (cannot) parts.push(`unusableActions/any(a: a eq ${literal(cannot)})`);
  return parts.length ? parts.join(' and ') : undefined;
}

export function DevicesPage() {
  const [params] = useSearchParams();
  const setParams = useSetParams();
  const can = useCan();
  const page = Math.max(1, Number(params.get('page')) || 1);
  const sort: DataTableSortStatus<Machine> = {
    columnAccessor: SORTABLE.includes(params.get('sort') as (typeof SORTABLE)[number]) ? params.get('sort')! : 'computerDnsName',
    direction: params.get('dir') === 'desc' ? 'desc' : 'asc',
  };
  const filter = filterOf(params);
  const query = { $filter: filter, $top: PAGE_SIZE, $skip: (page - 1) * PAGE_SIZE, $count: 'true' as const, $orderby: `${sort.columnAccessor} ${sort.direction}` };
  const list = useQuery({
    queryKey: keys.machines(query),
    queryFn: () => ok(api.GET('/api/machines', { params: { query } })),
    placeholderData: keepPreviousData,
  });
  const [selected, setSelected] = useState<Machine[]>([]);
  const responseActions = useResponseActions();

  // A new filter or sort starts at page 1; a new filter also clears the selection.
  const set = (changes: ParamChanges) => {
    setParams('page' in changes ? changes : { ...changes, page: null });
    if (!('page' in changes) && !('sort' in changes)) setSelected([]);
  };

  return (
    <Stack>
      <Group justify="space-between">
        <Title order={2}>Devices</Title>
        <BulkTags selected={selected} disabledReason={can('tags.write') ? null : 'Your role may not change tags (analyst or higher)'} onDone={() => setSelected([])} />
      </Group>
      <DeviceFilters params={params} set={set} />
      {list.error && <ErrorState error={list.error} onRetry={() => void list.refetch()} />}
      <div data-testid="devices-table">
        <DataTable<Machine>
          {...pagedTableProps(list)}
          minHeight={180}
          recordsPerPage={PAGE_SIZE}
          page={page}
          onPageChange={(p) => set({ page: String(p) })}
          sortStatus={sort}
          onSortStatusChange={(s) => set({ sort: s.columnAccessor as string, dir: s.direction })}
          selectedRecords={selected}
          onSelectedRecordsChange={setSelected}
          noRecordsText={filter ? 'No device matches these filters' : 'No devices yet: install an agent to see it here'}
          columns={[
            {
              accessor: 'computerDnsName',
              title: 'Device name',
              sortable: true,
              render: (m) => (
                <Anchor component={Link} to={`/devices/${m.id}`}>
                  {m.computerDnsName}
                </Anchor>
              ),
            },
            { accessor: 'osPlatform', title: 'OS', sortable: true, render: (m) => `${m.osPlatform} ${m.osVersion}` },
            { accessor: 'lastIpAddress', title: 'IP address', sortable: true, render: (m) => m.lastIpAddress ?? '—' },
            { accessor: 'healthStatus', title: 'Health', noWrap: true, width: 100, render: (m) => <HealthBadge machine={m} /> },
            { accessor: 'riskScore', title: 'Risk', sortable: true, noWrap: true, width: 110, render: (m) => <RiskBadge risk={m.riskScore} short /> },
            { accessor: 'isolationState', title: 'Isolation', noWrap: true, width: 150, render: (m) => (m.isolationState === 'NotIsolated' ? '—' : <IsolationBadge state={m.isolationState} />) },
            { accessor: 'machineTags', title: 'Tags', width: 200, render: (m) => <Tags tags={m.machineTags} /> },
            { accessor: 'unusableActions', title: 'Cannot', width: 220, render: (m) => <CannotCell m={m} actions={responseActions} /> },
            {
              accessor: 'lastSeen',
              title: 'Last seen',
              sortable: true,
              width: 120,
              render: (m) => (
                <Text size="sm">
                  <Ago value={m.lastSeen} />
                </Text>
              ),
            },
          ]}
        />
      </div>
    </Stack>
  );
}

/** The response actions of the device page's bar, in its order: what the fleet view says each device can do. */
function useResponseActions(): { value: string; label: string }[] {
  const types = useActionTypes().data?.value ?? [];
  return types
    .filter((t) => t.barPosition !== null)
    .sort((a, b) => a.barPosition! - b.barPosition!)
    .map((t) => ({ value: t.type, label: t.label }));
}

/** The response actions a device cannot take, each saying why on hover; a dash when it can take them all. */
function CannotCell({ m, actions }: { m: Machine; actions: { value: string; label: string }[] }) {
  const cannot = actions.flatMap((a) => m.unusableActions.filter((u) => u.action === a.value).map((u) => ({ ...a, reason: u.reason })));
  if (cannot.length === 0) return <Text size="sm">—</Text>;
  return (
    <Group gap={4}>
      {cannot.map((c) => (
        <Badge key={c.value} color="gray" variant="light" size="sm" title={c.reason} data-cannot={c.value} style={{ textTransform: 'none' }}>
          {c.label}
        </Badge>
      ))}
    </Group>
  );
}

function DeviceFilters({ params, set }: { params: URLSearchParams; set: (c: ParamChanges) => void }) {
  const responseActions = useResponseActions();
  const [tag, setTag] = useAddressText('tag', set);
  const [os, setOs] = useAddressText('os', set);
  return (
    <Group align="end" gap="sm" data-testid="device-filters">
      <TextInput label="Tag" placeholder="e.g. pci" value={tag} onChange={(e) => setTag(e.currentTarget.value)} w={160} />
      <Select label="Health" placeholder="Any" clearable data={['Active', 'Inactive']} value={params.get('health')} onChange={(v) => set({ health: v })} w={130} />
      <MultiSelect
        label="Risk"
        placeholder={params.get('risk') ? undefined : 'Any'}
        clearable
        data={['High', 'Medium', 'Low', 'Informational', 'None']}
        value={(params.get('risk') ?? '').split(',').filter(Boolean)}
        onChange={(v) => set({ risk: v.join(',') || null })}
        w={200}
      />
      <Select
        label="Isolation"
        placeholder="Any"
        clearable
        data={[
          { value: 'Isolated', label: 'Isolated' },
          { value: 'NotIsolated', label: 'Not isolated' },
          { value: 'Pending', label: 'Pending' },
        ]}
        value={params.get('isolation')}
        onChange={(v) => set({ isolation: v })}
        w={150}
      />
      <TextInput label="OS" placeholder="e.g. Debian" value={os} onChange={(e) => setOs(e.currentTarget.value)} w={160} />
      <Select label="Can" placeholder="Any" clearable data={responseActions} value={params.get('can')} onChange={(v) => set({ can: v })} w={230} />
      <Select label="Cannot" placeholder="Any" clearable data={responseActions} value={params.get('cannot')} onChange={(v) => set({ cannot: v })} w={230} />
    </Group>
  );
}

function BulkTags({ selected, disabledReason, onDone }: { selected: Machine[]; disabledReason: string | null; onDone: () => void }) {
  const [opened, { open, close }] = useDisclosure(false);
  const [action, setAction] = useState<'Add' | 'Remove'>('Add');
  const [value, setValue] = useState('');
  const queryClient = useQueryClient();
  const apply = useMutation({
    mutationFn: () => ok(api.POST('/api/machines/AddOrRemoveTagForMultipleMachines', { body: { value: value.trim(), action, machineIds: selected.map((m) => m.id) } })),
    onSuccess: () => {
      notifications.show({ color: 'green', message: `${action === 'Add' ? 'Added' : 'Removed'} tag “${value.trim()}” on ${selected.length} device(s)` });
      void queryClient.invalidateQueries({ queryKey: keys.machines() });
      close();
      setValue('');
      onDone();
    },
  });
  const reason = disabledReason ?? (selected.length === 0 ? 'Select devices first' : null);
  const button = (a: 'Add' | 'Remove') => (
    <ReasonButton
      variant="light"
      leftSection={a === 'Add' ? <IconTag size={16} /> : <IconTagOff size={16} />}
      reason={reason}
      onClick={() => {
        setAction(a);
        apply.reset();
        open();
      }}
    >
      {a === 'Add' ? 'Add tag' : 'Remove tag'}
      {selected.length > 0 ? ` (${selected.length})` : ''}
    </ReasonButton>
  );
  return (
    <>
      <Group gap="xs">
        {button('Add')}
        {button('Remove')}
      </Group>
      <Modal opened={opened} onClose={close} title={`${action === 'Add' ? 'Add a tag to' : 'Remove a tag from'} ${selected.length} device(s)`}>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            if (value.trim()) apply.mutate();
          }}
        >
          <Stack>
            <TextInput label="Tag" required data-autofocus value={value} onChange={(e) => setValue(e.currentTarget.value)} maxLength={128} error={apply.error ? messageOf(apply.error) : undefined} />
            <Group justify="end">
              <Button variant="default" onClick={close}>
                Cancel
              </Button>
              <Button type="submit" loading={apply.isPending} disabled={!value.trim()}>
                {action === 'Add' ? 'Add tag' : 'Remove tag'}
              </Button>
            </Group>
          </Stack>
        </form>
      </Modal>
    </>
  );
}
