import type { components } from '@cordon/api-client';
import { Alert, Badge, Button, Code, Group, Popover, Stack, Text, Title } from '@mantine/core';
import { IconAlertTriangle, IconShieldCheck } from '@tabler/icons-react';
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { DataTable } from 'mantine-datatable';
import { useState } from 'react';
import { api, ApiRequestError, keys, ok } from '../api';
import { ErrorState } from '../components/QueryState';
import { Time } from '../components/Time';

type AuditRecord = components['schemas']['AuditRecord'];
type Verification = components['schemas']['AuditVerification'];

const PAGE_SIZE = 50;
const OUTCOME_COLOR = { Succeeded: 'green', Failed: 'red', Refused: 'orange' } as const;

/** The chain check, at the top: green when every record is intact, red naming the first broken one. */
function Verified({ v }: { v: Verification }) {
  if (!v.verified && v.firstBroken) {
    const b = v.firstBroken;
    return (
      <Alert color="red" icon={<IconAlertTriangle />} title={`The audit log was tampered with: record ${b.seq} is the first broken one`} role="alert" data-testid="audit-tampered">
        <Stack gap={4}>
          <Text size="sm">{b.reason}</Text>
          <Text size="xs">
            Record {b.seq}
            {b.id !== null ? ` (id ${b.id})` : ''}
            {b.time ? (
              <>
                , written <Time value={b.time} />
              </>
            ) : (
              ''
            )}. {v.records} record(s) before it are intact. Restore the database from a backup and find out who had write access to it.
          </Text>
        </Stack>
      </Alert>
    );
  }
  const cp = v.lastCheckpoint;
  return (
    <Alert color="green" icon={<IconShieldCheck />} data-testid="audit-verified">
      <Text size="sm">
        verified: {v.records} record(s) intact, {cp ? (
          <>
            last signed checkpoint at record {cp.seq}, <Time value={cp.time} />
          </>
        ) : (
          'no signed checkpoint yet'
        )}
        {v.sinceLastCheckpoint > 0 ? ` (${v.sinceLastCheckpoint} written since, protected by the chain until the next checkpoint)` : ''}.
      </Text>
    </Alert>
  );
}

/** The target as text: type and id, e.g. "token 3f2a…" or "machine abc". */
const targetOf = (r: AuditRecord): string => (r.targetId ? `${r.targetType} ${r.targetId}` : r.targetType);

function Detail({ detail }: { detail: unknown }) {
  if (detail === null || detail === undefined) return null;
  return (
    <Popover width={420} withArrow shadow="md" position="left">
      <Popover.Target>
        <Button size="compact-xs" variant="subtle">
          Detail
        </Button>
      </Popover.Target>
      <Popover.Dropdown>
        <Code block style={{ whiteSpace: 'pre-wrap', wordBreak: 'break-word', maxHeight: 320, overflow: 'auto' }}>
          {JSON.stringify(detail, null, 2)}
        </Code>
      </Popover.Dropdown>
    </Popover>
  );
}

/** Administration: the audit log, newest first, and whether its chain is intact. */
export function AuditLogPage() {
  const [page, setPage] = useState(0);
  const verify = useQuery({ queryKey: keys.audit({ verify: true }), queryFn: () => ok(api.GET('/api/audit/verify')) });
  // One record more than shown says whether there is an older page (the API gives no count).
  const query = { $top: PAGE_SIZE + 1, $skip: page * PAGE_SIZE };
  const list = useQuery({ queryKey: keys.audit(query), queryFn: () => ok(api.GET('/api/audit', { params: { query } })), placeholderData: keepPreviousData });
  const rows = (list.data?.value ?? []).slice(0, PAGE_SIZE);
  const older = (list.data?.value.length ?? 0) > PAGE_SIZE;
  // A role without audit.read is refused both calls: say it once, and show no empty table.
  const refused = [verify.error, list.error].find((e) => e instanceof ApiRequestError && e.status === 403);
  if (refused) {
    return (
      <Stack>
        <Title order={2}>Audit log</Title>
        <ErrorState error={refused} />
      </Stack>
    );
  }

  return (
    <Stack>
      <Title order={2}>Audit log</Title>
      {verify.error ? <ErrorState error={verify.error} onRetry={() => void verify.refetch()} /> : verify.data ? <Verified v={verify.data} /> : <Text size="sm">Checking the audit chain…</Text>}
      {list.error ? (
        <ErrorState error={list.error} onRetry={() => void list.refetch()} />
      ) : (
        <div data-testid="audit-table">
          <DataTable<AuditRecord>
            records={rows}
            fetching={list.isFetching}
            withTableBorder
            highlightOnHover
            minHeight={160}
            customRowAttributes={(r) => ({ 'data-seq': r.seq })}
            noRecordsText="No audit records"
            columns={[
              { accessor: 'seq', title: '#', width: 70 },
              { accessor: 'time', title: 'Time', width: 110, render: (r) => <Time value={r.time} /> },
              { accessor: 'actor', title: 'Actor', render: (r) => <Text size="sm" style={{ wordBreak: 'break-word' }}>{r.actor}</Text> },
              { accessor: 'action', title: 'Action' },
              { accessor: 'targetId', title: 'Target', render: (r) => <Text size="sm" style={{ wordBreak: 'break-all' }}>{targetOf(r)}</Text> },
              {
                accessor: 'outcome',
                title: 'Outcome',
                width: 130,
                render: (r) => (
                  <Badge variant="light" color={OUTCOME_COLOR[r.outcome]}>
                    {r.outcome}
                  </Badge>
                ),
              },
              { accessor: 'comment', title: 'Comment', render: (r) => <Text size="sm" style={{ whiteSpace: 'pre-wrap', wordBreak: 'break-word' }} lineClamp={4}>{r.comment ?? ''}</Text> },
              { accessor: 'detail', title: '', width: 80, render: (r) => <Detail detail={r.detail} /> },
            ]}
          />
        </div>
      )}
      {!list.error && (
        <Group justify="space-between">
          <Text size="sm" c="dimmed" data-testid="audit-range">
            {rows.length ? `Records ${page * PAGE_SIZE + 1}–${page * PAGE_SIZE + rows.length}, newest first` : ''}
          </Text>
          <Group gap="xs">
            <Button size="xs" variant="default" disabled={page === 0} onClick={() => setPage((p) => Math.max(0, p - 1))}>
              Newer
            </Button>
            <Button size="xs" variant="default" disabled={!older} onClick={() => setPage((p) => p + 1)}>
              Older
            </Button>
          </Group>
        </Group>
      )}
    </Stack>
  );
}
