import type { MachineAction } from '@cordon/api-client';
import { Anchor, Code, Drawer, Group, SimpleGrid, Stack, Table, Text, Title } from '@mantine/core';
import { useQuery, type UseQueryResult } from '@tanstack/react-query';
import { useCallback, useState, type ReactNode } from 'react';
import { Link, useLocation, useNavigate, useSearchParams } from 'react-router';
import { api, keys, ok } from '../api';
import { useActionLabel } from '../action-types';
import { formatBytes } from '../format';
import { CancelButton, CancelDialog, PackageDownloadButton } from './ActionsTable';
import { ErrorState, FullPageLoader } from './QueryState';
import { ScanResult } from './ScanResult';
import { ActionStatus } from './StateBadges';
import { Time } from './Time';

/** The address parameter that opens an action's detail pane over whatever page is showing. */
const PARAM = 'action';
/** Marks a history entry made by opening the pane, so closing it goes back instead of adding one. */
const OPENED = { actionPane: true };

/** Where the current page with `id`'s detail pane open is. */
function useActionTarget(): (id: string) => { pathname: string; search: string } {
  const location = useLocation();
  return useCallback(
    (id: string) => {
      const params = new URLSearchParams(location.search);
      params.set(PARAM, id);
      return { pathname: location.pathname, search: `?${params}` };
    },
    [location.pathname, location.search],
  );
}

/** Opens an action's detail pane over the current page (a new history entry: Back closes it). */
export function useOpenAction(): (id: string) => void {
  const navigate = useNavigate();
  const target = useActionTarget();
  return useCallback((id: string) => void navigate(target(id), { state: OPENED }), [navigate, target]);
}

/** A link to an action's detail pane, over the current page. */
export function ActionLink({ id, children }: { id: string; children: ReactNode }) {
  const target = useActionTarget();
  return (
    <Anchor component={Link} to={target(id)} state={OPENED} size="sm" data-testid="action-link">
      {children}
    </Anchor>
  );
}

function Fact({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div>
      <Text size="xs" c="dimmed">
        {label}
      </Text>
      <Text size="sm" component="div" style={{ wordBreak: 'break-word' }}>
        {children}
      </Text>
    </div>
  );
}

/** The investigation package's summary as the agent reported it: what was collected, and the file to check it by. */
const PACKAGE_FACTS: [key: string, label: string][] = [
  ['collectors', 'Collectors'],
  ['dataPoints', 'Data points'],
  ['succeeded', 'Succeeded'],
  ['failed', 'Failed'],
  ['timedOut', 'Timed out'],
  ['truncated', 'Truncated'],
  ['notPresent', 'Not present'],
];

function PackageResult({ action, result }: { action: MachineAction; result: Record<string, unknown> }) {
  const num = (k: string) => (typeof result[k] === 'number' ? (result[k] as number) : null);
  const size = num('size');
  return (
    <Stack gap="xs" data-testid="package-result">
      <SimpleGrid cols={4} spacing="xs">
        {PACKAGE_FACTS.filter(([k]) => num(k) !== null).map(([k, label]) => (
          <Fact key={k} label={label}>
            <span data-fact={k}>{num(k)}</span>
          </Fact>
        ))}
      </SimpleGrid>
      <SimpleGrid cols={2} spacing="xs">
        {size !== null && (
          <Fact label="Size">
            <span data-fact="size" title={`${size} bytes`}>
              {formatBytes(size)} ({size.toLocaleString()} bytes)
            </span>
          </Fact>
        )}
        {num('durationMs') !== null && <Fact label="Collected in">{(num('durationMs')! / 1000).toFixed(1)} s</Fact>}
      </SimpleGrid>
      {typeof result.sha256 === 'string' && (
        <Fact label="SHA-256">
          <Code data-fact="sha256" style={{ wordBreak: 'break-all' }}>
            {result.sha256}
          </Code>
        </Fact>
      )}
      <Group>
        <PackageDownloadButton actionId={action.id} />
      </Group>
    </Stack>
  );
}

/** Any other action's summary, key by key, as the API gives it. */
function GenericResult({ result }: { result: Record<string, unknown> }) {
  return (
    <Table withRowBorders={false} verticalSpacing={2} data-testid="action-result">
      <Table.Tbody>
        {Object.entries(result).map(([k, v]) => (
          <Table.Tr key={k}>
            <Table.Td c="dimmed" w={180}>
              {k}
            </Table.Td>
            <Table.Td style={{ wordBreak: 'break-word' }}>{typeof v === 'string' ? v : JSON.stringify(v)}</Table.Td>
          </Table.Tr>
        ))}
      </Table.Tbody>
    </Table>
  );
}

function StateChanges({ changes }: { changes: NonNullable<MachineAction['stateChanges']> }) {
  return (
    <Table verticalSpacing={4} data-testid="action-state-changes">
      <Table.Thead>
        <Table.Tr>
          <Table.Th w={150}>State</Table.Th>
          <Table.Th>Time</Table.Th>
          <Table.Th>By</Table.Th>
          <Table.Th>What happened</Table.Th>
        </Table.Tr>
      </Table.Thead>
      <Table.Tbody>
        {changes.map((c, i) => (
          <Table.Tr key={i} data-status={c.status}>
            <Table.Td>
              <ActionStatus action={{ status: c.status, error: null }} />
            </Table.Td>
            <Table.Td>
              <Text size="sm">
                <Time value={c.time} />
              </Text>
            </Table.Td>
            <Table.Td>
              <Text size="sm">{c.actor ?? '—'}</Text>
            </Table.Td>
            <Table.Td>
              <Text size="sm">{c.title}</Text>
              {c.comment && (
                <Text size="xs" c="dimmed" style={{ whiteSpace: 'pre-wrap', wordBreak: 'break-word' }}>
                  “{c.comment}”
                </Text>
              )}
            </Table.Td>
          </Table.Tr>
        ))}
      </Table.Tbody>
    </Table>
  );
}

/** What an action's result says, as its type is best read; any other key by key. */
function Result({ action }: { action: MachineAction }) {
  const result = action.result!;
  if (action.type === 'CollectInvestigationPackage' && action.status === 'Succeeded') return <PackageResult action={action} result={result} />;
  if (action.type === 'RunAntiVirusScan' && action.status === 'Succeeded') return <ScanResult result={result} />;
  return <GenericResult result={result} />;
}

function ActionDetail({ action }: { action: UseQueryResult<MachineAction> }) {
  const actionLabel = useActionLabel();
  const [cancelling, setCancelling] = useState<MachineAction | null>(null);
  if (action.isPending) return <FullPageLoader />;
  if (action.error) return <ErrorState error={action.error} onRetry={() => void action.refetch()} />;
  const a = action.data;
  const result = a.result;
  return (
    <Stack gap="md" data-testid="action-detail">
      <Group justify="space-between" align="start">
        <div>
          <Title order={4}>{actionLabel(a.type)}</Title>
          {a.scope && (
            <Text size="sm" c="dimmed">
              Scope: {a.scope}
            </Text>
          )}
        </div>
        <Stack gap={4} align="end">
          <ActionStatus action={a} />
          <CancelButton action={a} onCancel={setCancelling} />
        </Stack>
      </Group>
      {cancelling && <CancelDialog key={cancelling.id} action={cancelling} onClose={() => setCancelling(null)} />}
      <SimpleGrid cols={2} spacing="sm">
        <Fact label="Device">
          <Anchor component={Link} to={`/devices/${a.machineId}?tab=actions`} size="sm" data-testid="action-device">
            {a.computerDnsName}
          </Anchor>
        </Fact>
        <Fact label="Submitted by">{a.requestor}</Fact>
        <Fact label="Submitted">
          <Time value={a.creationDateTimeUtc} />
        </Fact>
        <Fact label="Last update">
          <Time value={a.lastUpdateDateTimeUtc} />
        </Fact>
      </SimpleGrid>
      <Fact label="Comment">
        <Text size="sm" style={{ whiteSpace: 'pre-wrap', wordBreak: 'break-word' }} data-testid="action-detail-comment">
          {a.requestorComment}
        </Text>
      </Fact>
      {a.cancellationRequestor && (
        <Fact label="Cancelled">
          <span data-testid="action-cancellation">
            by {a.cancellationRequestor}, <Time value={a.cancellationDateTimeUtc} />
            {a.cancellationComment ? `: “${a.cancellationComment}”` : ''}
          </span>
        </Fact>
      )}
      {a.error && (
        <Text size="sm" c="red" role="alert">
          {a.error}
        </Text>
      )}
      {result && (
        <div>
          <Title order={5} mb="xs">
            Result
          </Title>
          <Result action={a} />
        </div>
      )}
      {a.stateChanges && (
        <div>
          <Title order={5} mb="xs">
            State changes
          </Title>
          <StateChanges changes={a.stateChanges} />
        </div>
      )}
      <Text size="xs" c="dimmed">
        Action ID <Code>{a.id}</Code>
      </Text>
    </Stack>
  );
}

/**
 * An action's detail pane, over any page whose address has `?action=<id>`: the Action center's
 * rows, a device's Actions tab and timeline link to it. Closing it returns to the page as it was.
 */
export function ActionDetailPane() {
  const [params, setParams] = useSearchParams();
  const location = useLocation();
  const navigate = useNavigate();
  const actionLabel = useActionLabel();
  const id = params.get(PARAM);
  // Under the actions key: live updates refresh it with the lists (and when alerts come in, which a scan's result links to).
  const action = useQuery({ queryKey: keys.action(id ?? undefined), queryFn: () => ok(api.GET('/api/machineactions/{id}', { params: { path: { id: id! } } })), enabled: !!id });
  const a = id ? action.data : undefined;
  const close = () => {
    if ((location.state as typeof OPENED | null)?.actionPane) void navigate(-1);
    else
      setParams(
        (prev) => {
          const next = new URLSearchParams(prev);
          next.delete(PARAM);
          return next;
        },
        { replace: true },
      );
  };
  return (
    <Drawer opened={!!id} onClose={close} position="right" size="xl" zIndex={250} title={a ? `${actionLabel(a.type)} — ${a.computerDnsName}` : 'Action'}>
      {id && <ActionDetail action={action} />}
    </Drawer>
  );
}
