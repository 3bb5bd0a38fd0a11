import type { Alert, Machine, MachineAction } from '@cordon/api-client';
import { Anchor, Badge, Group, Paper, SimpleGrid, Skeleton, Stack, Text, Title } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import type { ReactNode } from 'react';
import { Link } from 'react-router';
import { api, keys, ok } from '../api';
import { ErrorState, EmptyState } from '../components/QueryState';
import { ActionStatus, RiskBadge, SeverityBadge } from '../components/StateBadges';
import { useActionLabel } from '../action-types';
import { Ago } from '../components/Time';

const SHOWN = 8;

function Card<T>({ title, count, seeAll, items, render, empty, testId }: { title: string; count?: number; seeAll: string; items: { isPending: boolean; error: unknown; data?: T[]; refetch: () => unknown }; render: (x: T) => ReactNode; empty: string; testId: string }) {
  return (
    <Paper withBorder p="md" data-testid={testId}>
      <Stack gap="xs">
        <Group justify="space-between">
          <Group gap="xs">
            <Title order={4}>{title}</Title>
            {count !== undefined && <Badge variant="light">{count}</Badge>}
          </Group>
          <Anchor component={Link} to={seeAll} size="sm">
            See all
          </Anchor>
        </Group>
        {items.isPending && <Skeleton h={80} />}
        {items.error ? <ErrorState error={items.error} onRetry={() => void items.refetch()} /> : null}
        {items.data && items.data.length === 0 && <EmptyState>{empty}</EmptyState>}
        {items.data?.slice(0, SHOWN).map(render)}
      </Stack>
    </Paper>
  );
}

function useMachines(filter: string, orderby = 'lastSeen desc') {
  const query = { $filter: filter, $top: SHOWN, $count: 'true' as const, $orderby: orderby };
  return useQuery({ queryKey: keys.machines(query), queryFn: () => ok(api.GET('/api/machines', { params: { query } })) });
}
function useActions(filter: string) {
  const query = { $filter: filter, $top: SHOWN, $count: 'true' as const };
  return useQuery({ queryKey: keys.actions(query), queryFn: () => ok(api.GET('/api/machineactions', { params: { query } })) });
}

/** New alerts, the most severe first (then the newest). */
function useNewAlerts() {
  const query = { $filter: "status eq 'New'", $top: SHOWN, $count: 'true' as const, $orderby: 'severity desc,alertCreationTime desc' };
  return useQuery({ queryKey: keys.alerts(query), queryFn: () => ok(api.GET('/api/alerts', { params: { query } })) });
}

const asList = <T,>(q: { isPending: boolean; error: unknown; data?: { value: T[] }; refetch: () => unknown }) => ({ isPending: q.isPending, error: q.error, data: q.data?.value, refetch: q.refetch });

function MachineRow({ m, extra }: { m: Machine; extra: ReactNode }) {
  return (
    <Group key={m.id} justify="space-between" wrap="nowrap">
      <Anchor component={Link} to={`/devices/${m.id}`} size="sm" truncate>
        {m.computerDnsName}
      </Anchor>
      {extra}
    </Group>
  );
}
function ActionRow({ a }: { a: MachineAction }) {
  const actionLabel = useActionLabel();
  return (
    <Group key={a.id} justify="space-between" wrap="nowrap">
      <Text size="sm" truncate>
        {actionLabel(a.type)} on{' '}
        <Anchor component={Link} to={`/devices/${a.machineId}`}>
          {a.computerDnsName}
        </Anchor>
      </Text>
      <ActionStatus action={a} />
    </Group>
  );
}

function AlertRow({ a }: { a: Alert }) {
  return (
    <Group key={a.id} justify="space-between" wrap="nowrap" data-alert={a.id}>
      <Text size="sm" truncate>
        <Anchor component={Link} to={`/alerts/${a.id}`}>
          {a.title}
        </Anchor>
        {a.computerDnsName && (
          <Text span size="xs" c="dimmed">
            {' '}
            on {a.computerDnsName}
          </Text>
        )}
      </Text>
      <SeverityBadge severity={a.severity} />
    </Group>
  );
}

/** Why a device cannot be isolated, shortened to what the row has room for (the whole reason on hover). */
function IsolateReason({ m }: { m: Machine }) {
  const reason = m.unusableActions.find((u) => u.action === 'Isolate')?.reason ?? '';
  // The reason starts with the action's label, which the card's title already says.
  const short = reason.slice(reason.indexOf(': ') + 2);
  return (
    <Text size="xs" c="dimmed" truncate title={reason} maw="60%">
      {short}
    </Text>
  );
}

/** What needs attention now; every entry leads to its device. */
export function DashboardPage() {
  const alerts = useNewAlerts();
  const atRisk = useMachines("riskScore in ('High','Medium')", 'riskScore desc,lastSeen desc');
  const isolated = useMachines("isolationState eq 'Isolated'");
  const inactive = useMachines("healthStatus eq 'Inactive'");
  // Response readiness: found before an incident, not during one.
  const notIsolatable = useMachines("unusableActions/any(a: a eq 'Isolate')", 'computerDnsName asc');
  const pending = useActions("status in ('Pending','InProgress')");
  const failed = useActions("status in ('Failed','TimeOut')");

  return (
    <Stack>
      <Title order={2}>Dashboard</Title>
      <SimpleGrid cols={{ base: 1, md: 2, lg: 3 }}>
        <Card title="Alerts" testId="card-alerts" count={alerts.data?.['@odata.count']} seeAll="/alerts?status=New&sort=severity&dir=desc" items={asList(alerts)} empty="No new alert." render={(a: Alert) => <AlertRow key={a.id} a={a} />} />
        <Card title="Devices at risk" testId="card-at-risk" count={atRisk.data?.['@odata.count']} seeAll="/devices?risk=High,Medium" items={asList(atRisk)} empty="No device is at medium or high risk." render={(m: Machine) => <MachineRow key={m.id} m={m} extra={<RiskBadge risk={m.riskScore} />} />} />
        <Card title="Isolated devices" testId="card-isolated" count={isolated.data?.['@odata.count']} seeAll="/devices?isolation=Isolated" items={asList(isolated)} empty="No device is isolated." render={(m: Machine) => <MachineRow key={m.id} m={m} extra={<Text size="xs" c="dimmed">{m.isolation?.since ? (
                    <>
                      since <Ago value={m.isolation.since} />
                    </>
                  ) : (
                    ''
                  )}</Text>} />} />
        <Card title="Inactive devices" testId="card-inactive" count={inactive.data?.['@odata.count']} seeAll="/devices?health=Inactive" items={asList(inactive)} empty="Every device has checked in recently." render={(m: Machine) => <MachineRow key={m.id} m={m} extra={<Text size="xs" c="dimmed">last seen <Ago value={m.lastSeen} /></Text>} />} />
        <Card
          title="Devices that cannot be isolated"
          testId="card-not-isolatable"
          count={notIsolatable.data?.['@odata.count']}
          seeAll="/devices?cannot=Isolate"
          items={asList(notIsolatable)}
          empty="Every device can be isolated."
          render={(m: Machine) => <MachineRow key={m.id} m={m} extra={<IsolateReason m={m} />} />}
        />
        <Card title="Pending actions" testId="card-pending" count={pending.data?.['@odata.count']} seeAll="/actions?status=Pending,InProgress" items={asList(pending)} empty="No action is waiting." render={(a: MachineAction) => <ActionRow key={a.id} a={a} />} />
        <Card title="Failed actions" testId="card-failed" count={failed.data?.['@odata.count']} seeAll="/actions?status=Failed,TimeOut" items={asList(failed)} empty="No action has failed." render={(a: MachineAction) => <ActionRow key={a.id} a={a} />} />
      </SimpleGrid>
    </Stack>
  );
}
