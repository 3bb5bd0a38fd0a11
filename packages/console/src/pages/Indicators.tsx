import type { Indicator, IndicatorSubmission } from '@cordon/api-client';
import { ALERT_SEVERITIES } from '@cordon/protocol/alert-triage';

type AlertSeverity = (typeof ALERT_SEVERITIES)[number];
import { Badge, Button, Code, FileInput, Group, List, Modal, Select, Stack, Text, Textarea, TextInput, Title } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { IconFileImport, IconPlus, IconTrash } from '@tabler/icons-react';
import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { DataTable } from 'mantine-datatable';
import { useState } from 'react';
import { useSearchParams } from 'react-router';
import { useAddressText, useSetParams, type ParamChanges } from '../address';
import { api, ApiRequestError, keys, literal, messageOf, ok } from '../api';
import { indicatorsFromCsv } from '../csv';
import { pagedTableProps } from '../components/paged';
import { ErrorState } from '../components/QueryState';
import { ReasonButton } from '../components/ReasonButton';
import { SeverityBadge } from '../components/StateBadges';
import { Time } from '../components/Time';
import { useCan } from '../session';

const PAGE_SIZE = 50;
/** At most this many per import, as the API (and MDE) take them. */
const MAX_IMPORT = 500;

type IndicatorType = IndicatorSubmission['indicatorType'];
type IndicatorAction = IndicatorSubmission['action'];

const TYPES: { value: IndicatorType; label: string }[] = [
  { value: 'FileSha256', label: 'File SHA-256' },
  { value: 'FileSha1', label: 'File SHA-1' },
  { value: 'FileMd5', label: 'File MD5' },
  { value: 'IpAddress', label: 'IP address' },
  { value: 'DomainName', label: 'Domain name' },
  { value: 'Url', label: 'URL' },
];
const ACTIONS: { value: IndicatorAction; label: string }[] = [
  { value: 'Block', label: 'Block' },
  { value: 'AlertAndBlock', label: 'Alert and block' },
  { value: 'BlockAndRemediate', label: 'Block and remediate' },
  { value: 'Alert', label: 'Alert' },
  { value: 'Audit', label: 'Audit' },
  { value: 'Warn', label: 'Warn' },
  { value: 'Allowed', label: 'Allow' },
];
const label = (list: { value: string; label: string }[], v: string) => list.find((x) => x.value === v)?.label ?? v;

const ENFORCEMENT: Record<string, { color: string; label: string }> = {
  Block: { color: 'red', label: 'Blocked' },
  AlertOnly: { color: 'yellow', label: 'Alert only' },
  None: { color: 'gray', label: 'Not enforced' },
};

/** The list's filters, kept in the address: type, action (`act`: `action` opens an action's pane on any page), and any part of the value. */
function filterOf(p: URLSearchParams): string | undefined {
  const parts: string[] = [];
  const type = p.get('type');
  if (type) parts.push(`indicatorType eq ${literal(type)}`);
  const action = p.get('act');
  if (action) parts.push(`action eq ${literal(action)}`);
  const value = p.get('value');
  if (value) parts.push(`contains(indicatorValue,${literal(value)})`);
  return parts.length ? parts.join(' and ') : undefined;
}

/** Indicators of compromise: list and filter (every role), add, import and delete (responders and up). */
export function IndicatorsPage() {
  const [params] = useSearchParams();
  const setParams = useSetParams();
  const can = useCan();
  const writable = can('indicators.write');
  const reason = writable ? null : 'Your role may not change indicators (responder or higher)';
  const page = Math.max(1, Number(params.get('page')) || 1);
  const filter = filterOf(params);
  const query = { $filter: filter, $top: PAGE_SIZE, $skip: (page - 1) * PAGE_SIZE, $count: 'true' as const };
  const list = useQuery({ queryKey: keys.indicators(query), queryFn: () => ok(api.GET('/api/indicators', { params: { query } })), placeholderData: keepPreviousData });
  const [selected, setSelected] = useState<Indicator[]>([]);
  const [dialog, setDialog] = useState<'add' | 'import' | 'delete' | null>(null);
  // A new filter starts at page 1 and clears the selection.
  const set = (changes: ParamChanges) => {
    setParams('page' in changes ? changes : { ...changes, page: null });
    if (!('page' in changes)) setSelected([]);
  };
  const [value, setValue] = useAddressText('value', set);

  return (
    <Stack>
      <Group justify="space-between">
        <Title order={2}>Indicators</Title>
        <Group gap="xs">
          <ReasonButton variant="light" leftSection={<IconPlus size={16} />} reason={reason} onClick={() => setDialog('add')}>
            Add indicator
          </ReasonButton>
          <ReasonButton variant="light" leftSection={<IconFileImport size={16} />} reason={reason} onClick={() => setDialog('import')}>
            Import CSV
          </ReasonButton>
          <ReasonButton variant="light" color="red" leftSection={<IconTrash size={16} />} reason={reason ?? (selected.length === 0 ? 'Select indicators first' : null)} onClick={() => setDialog('delete')}>
            {`Delete${selected.length ? ` (${selected.length})` : ''}`}
          </ReasonButton>
        </Group>
      </Group>
      <Group align="end" gap="sm" data-testid="indicator-filters">
        <Select label="Type" placeholder="Any" clearable data={TYPES} value={params.get('type')} onChange={(v) => set({ type: v })} w={170} />
        <Select label="Action" placeholder="Any" clearable data={ACTIONS} value={params.get('act')} onChange={(v) => set({ act: v })} w={190} />
        <TextInput label="Value" placeholder="Any part of it" value={value} onChange={(e) => setValue(e.currentTarget.value)} w={260} />
      </Group>
      {list.error && <ErrorState error={list.error} onRetry={() => void list.refetch()} />}
      <div data-testid="indicators-table">
        <DataTable<Indicator>
          {...pagedTableProps(list)}
          minHeight={180}
          recordsPerPage={PAGE_SIZE}
          page={page}
          onPageChange={(p) => set({ page: String(p) })}
          // Only those who may delete pick rows.
          {...(writable ? { selectedRecords: selected, onSelectedRecordsChange: setSelected } : {})}
          customRowAttributes={(i) => ({ 'data-indicator': i.id })}
          noRecordsText={filter ? 'No indicator matches these filters' : 'No indicators yet'}
          columns={[
            { accessor: 'indicatorType', title: 'Type', render: (i) => label(TYPES, i.indicatorType) },
            {
              accessor: 'indicatorValue',
              title: 'Value',
              // Room for an address or a domain on one line; a SHA-256 hash breaks over three.
              width: 210,
              render: (i) => (
                <Code style={{ wordBreak: 'break-all' }} data-testid="indicator-value">
                  {i.indicatorValue}
                </Code>
              ),
            },
            { accessor: 'action', title: 'Action', noWrap: true, render: (i) => label(ACTIONS, i.action) },
            {
              accessor: 'enforcement',
              title: 'On Linux',
              width: 240,
              render: (i) => (
                <>
                  <Badge color={ENFORCEMENT[i.enforcement]?.color ?? 'gray'} variant="light" tt="none" data-testid="indicator-enforcement">
                    {ENFORCEMENT[i.enforcement]?.label ?? i.enforcement}
                  </Badge>
                  <Text size="xs" c="dimmed" mt={2}>
                    {i.enforcementNote}
                  </Text>
                </>
              ),
            },
            { accessor: 'severity', title: 'Severity', render: (i) => <SeverityBadge severity={i.severity} /> },
            { accessor: 'title', title: 'Title', render: (i) => <Text size="sm" style={{ overflowWrap: 'break-word' }}>{i.title}</Text> },
            {
              accessor: 'expirationTime',
              title: 'Expires',
              render: (i) =>
                i.expirationTime ? (
                  <>
                    <Text size="sm">
                      <Time value={i.expirationTime} />
                    </Text>
                    {i.isExpired && (
                      <Badge color="gray" variant="light" size="sm">
                        Expired
                      </Badge>
                    )}
                  </>
                ) : (
                  <Text size="sm" c="dimmed">
                    Never
                  </Text>
                ),
            },
            {
              accessor: 'createdBy',
              title: 'Created by',
              render: (i) => (
                <>
                  <Text size="sm" style={{ overflowWrap: 'anywhere' }}>
                    {i.createdBy}
                  </Text>
                  <Text size="xs" c="dimmed">
                    <Time value={i.creationTimeDateTimeUtc} />
                  </Text>
                </>
              ),
            },
          ]}
        />
      </div>
      {dialog === 'add' && <AddIndicatorDialog onClose={() => setDialog(null)} />}
      {dialog === 'import' && <ImportDialog onClose={() => setDialog(null)} />}
      {dialog === 'delete' && (
        <DeleteDialog
          indicators={selected}
          onClose={(deleted) => {
            setDialog(null);
            if (deleted) setSelected([]);
          }}
        />
      )}
    </Stack>
  );
}

function useRefreshIndicators() {
  const queryClient = useQueryClient();
  return () => void queryClient.invalidateQueries({ queryKey: keys.indicators() });
}

/** The datetime-local input's value (the browser's zone) as the API's time, or undefined when empty. */
const isoOf = (local: string): string | undefined => (local && !Number.isNaN(Date.parse(local)) ? new Date(local).toISOString() : undefined);

function AddIndicatorDialog({ onClose }: { onClose: () => void }) {
  const refresh = useRefreshIndicators();
  const [form, setForm] = useState({ indicatorType: null as IndicatorType | null, indicatorValue: '', action: null as IndicatorAction | null, severity: 'Informational' as AlertSeverity, title: '', description: '', expires: '' });
  const field = <K extends keyof typeof form>(k: K) => (v: (typeof form)[K]) => setForm((f) => ({ ...f, [k]: v }));
  const add = useMutation({
    mutationFn: () => {
      const body: IndicatorSubmission = {
        indicatorType: form.indicatorType!,
        indicatorValue: form.indicatorValue.trim(),
        action: form.action!,
        severity: form.severity,
        title: form.title.trim(),
        ...(form.description.trim() ? { description: form.description.trim() } : {}),
        ...(isoOf(form.expires) ? { expirationTime: isoOf(form.expires) } : {}),
      };
      return ok(api.POST('/api/indicators', { body }));
    },
    onSuccess: (i) => {
      // What Linux agents will do with it is news when it is less than asked (a domain block is alert-only).
      notifications.show(i.enforcement === 'Block' || i.action === 'Allowed' ? { color: 'green', message: `Indicator ${i.indicatorValue} saved` } : { color: 'yellow', title: `Indicator ${i.indicatorValue} saved`, message: i.enforcementNote });
      refresh();
      onClose();
    },
  });
  const ready = form.indicatorType && form.action && form.indicatorValue.trim() && form.title.trim();
  return (
    <Modal opened onClose={onClose} title="Add an indicator" size="lg">
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (ready) add.mutate();
        }}
      >
        <Stack>
          <Text size="sm" c="dimmed">
            An indicator with the same type and value is updated instead. Agents receive the change within seconds.
          </Text>
          <Group grow align="start">
            <Select label="Type" required data={TYPES} value={form.indicatorType} onChange={(v) => field('indicatorType')(v as IndicatorType | null)} data-autofocus />
            <Select label="Action" required data={ACTIONS} value={form.action} onChange={(v) => field('action')(v as IndicatorAction | null)} />
            <Select label="Severity" data={[...ALERT_SEVERITIES]} value={form.severity} allowDeselect={false} onChange={(v) => v && field('severity')(v as AlertSeverity)} />
          </Group>
          <TextInput label="Value" required description="A hash, an IP address, a domain name or an http(s) URL, as the type says" value={form.indicatorValue} onChange={(e) => field('indicatorValue')(e.currentTarget.value)} maxLength={2048} />
          <TextInput label="Title" required value={form.title} onChange={(e) => field('title')(e.currentTarget.value)} maxLength={512} />
          <Textarea label="Description" value={form.description} onChange={(e) => field('description')(e.currentTarget.value)} maxLength={8000} autosize minRows={2} />
          <TextInput label="Expires" description="Empty: never. Agents stop applying it then, offline too." type="datetime-local" value={form.expires} onChange={(e) => field('expires')(e.currentTarget.value)} w={260} />
          {add.error && (
            <Text c="red" size="sm" role="alert">
              {messageOf(add.error)}
            </Text>
          )}
          <Group justify="end">
            <Button variant="default" onClick={onClose}>
              Cancel
            </Button>
            <Button type="submit" loading={add.isPending} disabled={!ready}>
              Add indicator
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

/** The API names a bad item `Indicators.<i>.<Field>`: said as the file's line instead. */
function importError(e: unknown, file: string, lines: number[]): string {
  const m = e instanceof ApiRequestError && e.target ? /^Indicators\.(\d+)/.exec(e.target) : null;
  if (!m) return messageOf(e);
  return `${file} line ${lines[Number(m[1])]}: ${messageOf(e).replace(/^Indicators\.\d+\.?/, '')}; nothing was imported`;
}

function ImportDialog({ onClose }: { onClose: () => void }) {
  const refresh = useRefreshIndicators();
  const [file, setFile] = useState<File | null>(null);
  const run = useMutation({
    mutationFn: async (f: File) => {
      let parsed: ReturnType<typeof indicatorsFromCsv>;
      try {
        parsed = indicatorsFromCsv(await f.text());
      } catch (e) {
        throw new Error(`${f.name}: ${messageOf(e)}; nothing was imported`);
      }
      if (parsed.items.length === 0) throw new Error(`${f.name} holds no indicators`);
      if (parsed.items.length > MAX_IMPORT) throw new Error(`${f.name} holds ${parsed.items.length} indicators; an import takes at most ${MAX_IMPORT}: split the file`);
      try {
        return await ok(api.POST('/api/indicators/import', { body: { indicators: parsed.items } }));
      } catch (e) {
        throw new Error(importError(e, f.name, parsed.lines));
      }
    },
    onSuccess: (r, f) => {
      notifications.show({ color: 'green', message: `Imported ${r.value.length} indicator(s) from ${f.name}` });
      refresh();
      onClose();
    },
  });
  return (
    <Modal opened onClose={onClose} title="Import indicators" size="lg">
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (file) run.mutate(file);
        }}
      >
        <Stack>
          <Text size="sm">
            A CSV file with MDE&apos;s import columns and a header row, up to {MAX_IMPORT} indicators. The import is all or nothing: one bad row is named and nothing changes.
          </Text>
          <List size="xs" c="dimmed">
            <List.Item>Required: IndicatorType, IndicatorValue, Action, Title</List.Item>
            <List.Item>Optional: ExpirationTime, Severity, Description, RecommendedActions, RbacGroups, Category, MitreTechniques, GenerateAlert</List.Item>
          </List>
          <FileInput
            label="CSV file"
            placeholder="Choose a .csv file"
            accept=".csv,text/csv"
            clearable
            value={file}
            onChange={(f) => {
              setFile(f);
              run.reset();
            }}
            data-testid="import-file"
          />
          {run.error && (
            <Text c="red" size="sm" role="alert" style={{ overflowWrap: 'anywhere' }}>
              {messageOf(run.error)}
            </Text>
          )}
          <Group justify="end">
            <Button variant="default" onClick={onClose}>
              Cancel
            </Button>
            <Button type="submit" loading={run.isPending} disabled={!file}>
              Import
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

/** Deletes the selected indicators: one with DELETE, several with BatchDelete (all of them, or none). */
function DeleteDialog({ indicators, onClose }: { indicators: Indicator[]; onClose: (deleted: boolean) => void }) {
  const refresh = useRefreshIndicators();
  const remove = useMutation({
    mutationFn: async () => {
      if (indicators.length === 1) await ok(api.DELETE('/api/indicators/{id}', { params: { path: { id: indicators[0]!.id } } }));
      else await ok(api.POST('/api/indicators/BatchDelete', { body: { indicatorIds: indicators.map((i) => i.id) } }));
    },
    onSuccess: () => {
      notifications.show({ color: 'green', message: `Deleted ${indicators.length} indicator(s)` });
      refresh();
      onClose(true);
    },
  });
  return (
    <Modal opened onClose={() => onClose(false)} title={`Delete ${indicators.length} indicator(s)`}>
      <Stack>
        <Text size="sm">Agents stop applying {indicators.length === 1 ? 'it' : 'them'} within seconds: blocked addresses become reachable again.</Text>
        <List size="sm">
          {indicators.slice(0, 10).map((i) => (
            <List.Item key={i.id} style={{ overflowWrap: 'anywhere' }}>
              {i.indicatorValue} ({i.title})
            </List.Item>
          ))}
          {indicators.length > 10 && <List.Item>and {indicators.length - 10} more</List.Item>}
        </List>
        {remove.error && (
          <Text c="red" size="sm" role="alert">
            {messageOf(remove.error)}
          </Text>
        )}
        <Group justify="end">
          <Button variant="default" onClick={() => onClose(false)}>
            Cancel
          </Button>
          <Button color="red" loading={remove.isPending} onClick={() => remove.mutate()}>
            Delete
          </Button>
        </Group>
      </Stack>
    </Modal>
  );
}
