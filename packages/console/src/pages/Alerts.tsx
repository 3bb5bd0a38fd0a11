import type { Alert } from '@cordon/api-client';
import { ALERT_SEVERITIES, ALERT_STATUSES } from '@cordon/protocol/alert-triage';
import { Autocomplete, Button, Group, Modal, MultiSelect, Stack, Text, Textarea, TextInput, Title } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { IconCircleCheck, IconUserShare } from '@tabler/icons-react';
import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { DataTable, type DataTableSortStatus } from 'mantine-datatable';
import { useState } from 'react';
import { useSearchParams } from 'react-router';
import { useAddressText, useSetParams, type ParamChanges } from '../address';
import { api, keys, literal, messageOf, ok, queryClient } from '../api';
import { alertColumns } from '../components/AlertsTable';
import { pagedTableProps } from '../components/paged';
import { ErrorState } from '../components/QueryState';
import { ReasonButton } from '../components/ReasonButton';
import { ALERT_STATUS_LABELS } from '../components/StateBadges';
import { useCan, useMe } from '../session';

const PAGE_SIZE = 50;
/** Highest first, as the filter lists them. */
const SEVERITIES = [...ALERT_SEVERITIES].reverse();
/** What the queue shows until told otherwise: the alerts someone still has to look at. */
const DEFAULT_STATUSES = ['New', 'InProgress'];
/** `status=any` in the address: every status (no parameter means the default view). */
const ANY = 'any';
const SORTABLE = ['severity', 'status', 'title', 'computerDnsName', 'detectionSource', 'category', 'assignedTo', 'alertCreationTime'];
/** The sources Cordon knows of; any other text is matched too (by its start). */
const KNOWN_SOURCES = ['Falco', 'Custom', 'Antivirus', 'ExecutionControl', 'Indicator'];

const listOf = (p: URLSearchParams, key: string) => (p.get(key) ?? '').split(',').filter(Boolean);

/** The statuses shown: the address's, or New and In progress when it names none. */
function statusesOf(p: URLSearchParams): string[] {
  const s = p.get('status');
  if (s === null) return DEFAULT_STATUSES;
  return s === ANY ? [] : listOf(p, 'status');
}

/** The queue's filters, kept in the address so a link reproduces the view. Text filters match the start, in any case. */
function filterOf(p: URLSearchParams): string | undefined {
  const parts: string[] = [];
  const severity = listOf(p, 'severity');
  if (severity.length) parts.push(`severity in (${severity.map(literal).join(',')})`);
  const status = statusesOf(p);
  if (status.length) parts.push(`status in (${status.map(literal).join(',')})`);
  for (const [param, field] of [
    ['category', 'category'],
    ['source', 'detectionSource'],
    ['device', 'computerDnsName'],
    ['assigned', 'assignedTo'],
  ] as const) {
    const v = p.get(param);
    if (v) parts.push(`startswith(${field},${literal(v)})`);
  }
  const from = p.get('from');
  if (from && !Number.isNaN(Date.parse(from))) parts.push(`alertCreationTime ge ${new Date(from).toISOString()}`);
  const to = p.get('to');
  if (to && !Number.isNaN(Date.parse(to))) parts.push(`alertCreationTime le ${new Date(to).toISOString()}`);
  return parts.length ? parts.join(' and ') : undefined;
}

/** The page, sort and API query the address asks for. */
function viewOf(params: URLSearchParams) {
  const page = Math.max(1, Number(params.get('page')) || 1);
  const sort: DataTableSortStatus<Alert> = {
    columnAccessor: SORTABLE.includes(params.get('sort') ?? '') ? params.get('sort')! : 'alertCreationTime',
    direction: params.get('dir') === 'asc' ? 'asc' : 'desc',
  };
  const query = { $filter: filterOf(params), $top: PAGE_SIZE, $skip: (page - 1) * PAGE_SIZE, $count: 'true' as const, $orderby: `${sort.columnAccessor} ${sort.direction}` };
  // Fresh for a few seconds: the page, mounting just after `prefetchAlerts` asked, does not ask
  // again; live events still refresh it at once.
  return { page, sort, list: { queryKey: keys.alerts(query), queryFn: () => ok(api.GET('/api/alerts', { params: { query } })), staleTime: 5_000 } };
}

/**
 * Asks for the queue as soon as the address is known (the route's loader), alongside the session
 * and the console's own start instead of after them: the rows can show on the first render.
 */
export function prefetchAlerts(params: URLSearchParams): void {
  void queryClient.prefetchQuery(viewOf(params).list);
}

/** The alerts queue: filter, sort and page through alerts, select several to assign or resolve; live. */
export function AlertsPage() {
  const [params] = useSearchParams();
  const setParams = useSetParams();
  const can = useCan();
  const { page, sort, list: listQuery } = viewOf(params);
  const list = useQuery({ ...listQuery, placeholderData: keepPreviousData });
  const [selected, setSelected] = useState<Alert[]>([]);

  // A new filter or sort starts at page 1; a new filter also clears the selection.
  const set = (changes: ParamChanges) => {
    setParams('page' in changes ? changes : { ...changes, page: null });
    if (!('page' in changes) && !('sort' in changes)) setSelected([]);
  };

  return (
    <Stack>
      <Group justify="space-between">
        <Title order={2}>Alerts</Title>
        <BulkTriage selected={selected} disabledReason={can('alerts.write') ? null : 'Your role may not change alerts (analyst or higher)'} onDone={() => setSelected([])} />
      </Group>
      <AlertFilters params={params} set={set} />
      {list.error && <ErrorState error={list.error} onRetry={() => void list.refetch()} />}
      <div data-testid="alerts-table">
        <DataTable<Alert>
          {...pagedTableProps(list)}
          minHeight={180}
          recordsPerPage={PAGE_SIZE}
          page={page}
          onPageChange={(p) => set({ page: String(p) })}
          sortStatus={sort}
          onSortStatusChange={(s) => set({ sort: s.columnAccessor as string, dir: s.direction })}
          selectedRecords={selected}
          onSelectedRecordsChange={setSelected}
          customRowAttributes={(a) => ({ 'data-alert': a.id })}
          noRecordsText={filterOf(params) ? 'No alert matches these filters' : 'No alerts yet: send one from Falco or your SIEM (see the README)'}
          columns={alertColumns({ showDevice: true, sortable: true })}
        />
      </div>
    </Stack>
  );
}

function AlertFilters({ params, set }: { params: URLSearchParams; set: (c: ParamChanges) => void }) {
  const [category, setCategory] = useAddressText('category', set);
  const [source, setSource] = useAddressText('source', set);
  const [device, setDevice] = useAddressText('device', set);
  const [assigned, setAssigned] = useAddressText('assigned', set);
  const statuses = statusesOf(params);
  return (
    <Group align="end" gap="sm" data-testid="alert-filters">
      <MultiSelect label="Severity" placeholder={listOf(params, 'severity').length ? undefined : 'Any'} clearable data={SEVERITIES} value={listOf(params, 'severity')} onChange={(v) => set({ severity: v.join(',') || null })} w={220} />
      <MultiSelect
        label="Status"
        placeholder={statuses.length ? undefined : 'Any'}
        clearable
        data={ALERT_STATUSES.map((s) => ({ value: s, label: ALERT_STATUS_LABELS[s]! }))}
        value={statuses}
        // The default (New, In progress) is no parameter at all; an emptied list means any status.
        onChange={(v) => set({ status: v.length === 0 ? ANY : v.length === DEFAULT_STATUSES.length && DEFAULT_STATUSES.every((s) => v.includes(s)) ? null : v.join(',') })}
        w={340}
      />
      <TextInput label="Category" placeholder="e.g. Execution" value={category} onChange={(e) => setCategory(e.currentTarget.value)} w={140} />
      <Autocomplete label="Detection source" placeholder="Any" data={KNOWN_SOURCES} value={source} onChange={setSource} w={150} />
      <TextInput label="Device" placeholder="Name starts with" value={device} onChange={(e) => setDevice(e.currentTarget.value)} w={160} />
      <TextInput label="Assigned to" placeholder="User" value={assigned} onChange={(e) => setAssigned(e.currentTarget.value)} w={140} />
      <TextInput label="From" type="datetime-local" value={params.get('from') ?? ''} onChange={(e) => set({ from: e.currentTarget.value || null })} w={190} />
      <TextInput label="To" type="datetime-local" value={params.get('to') ?? ''} onChange={(e) => set({ to: e.currentTarget.value || null })} w={190} />
    </Group>
  );
}

type Triage = 'assign' | 'resolve';

/** "Assign to…" and "Resolve" for the selected alerts: one batch update, applied to all of them or none. */
function BulkTriage({ selected, disabledReason, onDone }: { selected: Alert[]; disabledReason: string | null; onDone: () => void }) {
  const me = useMe();
  const [open, setOpen] = useState<Triage | null>(null);
  const [assignee, setAssignee] = useState('');
  const [comment, setComment] = useState('');
  const queryClient = useQueryClient();
  const apply = useMutation({
    mutationFn: (kind: Triage) =>
      ok(
        api.POST('/api/alerts/batchUpdate', {
          body: { alertIds: selected.map((a) => a.id), ...(kind === 'assign' ? { assignedTo: assignee.trim() } : { status: 'Resolved' as const }), ...(comment.trim() ? { comment: comment.trim() } : {}) },
        }),
      ),
    onSuccess: (_r, kind) => {
      notifications.show({ color: 'green', message: kind === 'assign' ? `Assigned ${selected.length} alert(s) to ${assignee.trim()}` : `Resolved ${selected.length} alert(s)` });
      // Resolving moves devices' risk too.
      for (const key of [keys.alerts(), keys.alert(), keys.machines()]) void queryClient.invalidateQueries({ queryKey: key });
      setOpen(null);
      onDone();
    },
  });
  const reason = disabledReason ?? (selected.length === 0 ? 'Select alerts first' : null);
  const count = selected.length > 0 ? ` (${selected.length})` : '';
  const start = (kind: Triage) => {
    apply.reset();
    setComment('');
    setAssignee(me.name);
    setOpen(kind);
  };
  const canSubmit = open === 'resolve' || assignee.trim() !== '';
  return (
    <>
      <Group gap="xs">
        <ReasonButton variant="light" leftSection={<IconUserShare size={16} />} reason={reason} onClick={() => start('assign')}>
          {`Assign to…${count}`}
        </ReasonButton>
        <ReasonButton variant="light" color="green" leftSection={<IconCircleCheck size={16} />} reason={reason} onClick={() => start('resolve')}>
          {`Resolve${count}`}
        </ReasonButton>
      </Group>
      <Modal opened={open !== null} onClose={() => setOpen(null)} title={open === 'assign' ? `Assign ${selected.length} alert(s)` : `Resolve ${selected.length} alert(s)`}>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            if (open && canSubmit) apply.mutate(open);
          }}
        >
          <Stack>
            {open === 'assign' && <TextInput label="Assign to" description="A user name or e-mail address" required data-autofocus value={assignee} onChange={(e) => setAssignee(e.currentTarget.value)} maxLength={256} />}
            {open === 'resolve' && <Text size="sm">Resolved alerts leave the default view and no longer count towards their device&apos;s risk.</Text>}
            <Textarea label="Comment" description="Optional; kept on each alert" value={comment} onChange={(e) => setComment(e.currentTarget.value)} maxLength={4000} autosize minRows={2} />
            {apply.error && (
              <Text c="red" size="sm" role="alert">
                {messageOf(apply.error)}
              </Text>
            )}
            <Group justify="end">
              <Button variant="default" onClick={() => setOpen(null)}>
                Cancel
              </Button>
              <Button type="submit" loading={apply.isPending} disabled={!canSubmit} color={open === 'resolve' ? 'green' : undefined}>
                {open === 'assign' ? 'Assign' : 'Resolve'}
              </Button>
            </Group>
          </Stack>
        </form>
      </Modal>
    </>
  );
}
