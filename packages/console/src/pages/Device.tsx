import { Alert, Anchor, Drawer, Group, Paper, SimpleGrid, Stack, Tabs, Text, Title } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { Link, useParams, useSearchParams } from 'react-router';
import { api, ApiRequestError, keys, literal, ok } from '../api';
import { ActionBar } from '../components/ActionBar';
import { ActionsTable } from '../components/ActionsTable';
import { DeviceAlerts } from '../components/AlertsTable';
import { ErrorState, FullPageLoader } from '../components/QueryState';
import { QuarantineList } from '../components/Quarantine';
import { RestrictionPanel } from '../components/Restriction';
import { MachineBadges, Tags } from '../components/StateBadges';
import { Timeline } from '../components/Timeline';
import { Ago } from '../components/Time';
import { NotFoundPage } from './NotFound';

function Fact({ label, children }: { label: string; children: React.ReactNode }) {
  return (
    <div>
      <Text size="xs" c="dimmed">
        {label}
      </Text>
      <Text size="sm" component="div">
        {children}
      </Text>
    </div>
  );
}

/** The device page's tabs, the first one shown when the address names none. */
const TABS = ['timeline', 'alerts', 'actions', 'quarantine'];

/** One page per device: moving to another device starts fresh (dialogs, timeline page, fly-out). */
export function DeviceRoute() {
  const { id = '' } = useParams();
  return <DevicePage key={id} id={id} />;
}

function DevicePage({ id }: { id: string }) {
  // Heartbeats move "last seen" without a live event (one per device per beat would flood every
  // view): the open device is read again every 10 s instead.
  const machine = useQuery({ queryKey: keys.machine(id), queryFn: () => ok(api.GET('/api/machines/{id}', { params: { path: { id } } })), refetchInterval: 10_000 });
  const [params, setParams] = useSearchParams();
  // The tab and the Action center fly-out are in the address, so a link can point at them; each change is a history entry (Back returns to it).
  const tab = TABS.includes(params.get('tab') ?? '') ? params.get('tab')! : 'timeline';
  const actionCenter = params.get('actionCenter') === 'open';
  const change = (name: string, value: string | null) =>
    setParams((prev) => {
      const next = new URLSearchParams(prev);
      if (value) next.set(name, value);
      else next.delete(name);
      return next;
    });

  if (machine.isPending) return <FullPageLoader />;
  if (machine.error instanceof ApiRequestError && machine.error.status === 404) {
    return (
      <Stack data-testid="no-such-device">
        <Title order={2}>No such device</Title>
        <Text>No device has the id {id}: it may have been mistyped, or the link is from another Cordon server.</Text>
        <Anchor component={Link} to="/devices">
          Back to the devices list
        </Anchor>
      </Stack>
    );
  }
  if (machine.error) {
    return (
      <Stack>
        <ErrorState error={machine.error} onRetry={() => void machine.refetch()} />
        <Anchor component={Link} to="/devices">
          Back to the devices list
        </Anchor>
      </Stack>
    );
  }
  // `findbyip(...)` answers a list: not a device page.
  if (!('id' in machine.data)) return <NotFoundPage />;
  const m = machine.data;
  // Loopback addresses say nothing about where a device is.
  const ips = (m.ipAddresses ?? []).filter((a) => !/^(127\.|::1$)/.test(a.ipAddress));

  return (
    <Stack>
      <Paper withBorder p="md" data-testid="device-header">
        <Stack gap="sm">
          <Group justify="space-between" align="start">
            <div>
              <Title order={2} data-testid="device-name" style={{ wordBreak: 'break-all' }}>
                {m.computerDnsName}
              </Title>
              <Text size="sm" c="dimmed">
                {m.osPlatform} {m.osVersion}
              </Text>
            </div>
            <MachineBadges machine={m} />
          </Group>
          <SimpleGrid cols={{ base: 2, md: 5 }}>
            <Fact label="Last seen">
              <Ago value={m.lastSeen} tooltip data-testid="last-seen" />
            </Fact>
            <Fact label="Agent version">{m.agentVersion}</Fact>
            <Fact label="IP addresses">{ips.length ? ips.map((a) => a.ipAddress).join(", ") : (m.lastIpAddress ?? "—")}</Fact>
            <Fact label="Connected">{m.isConnected ? 'Yes' : 'No'}</Fact>
            <Fact label="Device group">
              <span data-testid="device-group">{m.rbacGroupName ?? 'Ungrouped devices'}</span>
            </Fact>
            {/* A row of their own: however many tags, the facts and the action bar keep their place. */}
            <div style={{ gridColumn: '1 / -1' }}>
              <Fact label="Tags">
                <Tags tags={m.machineTags} max={8} />
              </Fact>
            </div>
          </SimpleGrid>
        </Stack>
      </Paper>
      {m.credentialRevokedAt && (
        <Alert color="red" title="Credential revoked" data-testid="credential-revoked">
          {m.credentialRevokedBy ?? 'An admin'} revoked this device's credential <Ago value={m.credentialRevokedAt} tooltip />: its agent is refused until the device is enrolled again.
        </Alert>
      )}
      {m.credentialInUseTwiceAt && !m.credentialRevokedAt && (
        <Alert color="orange" title="Credential used twice" data-testid="credential-in-use-twice">
          A second agent tried to connect with this device's credential <Ago value={m.credentialInUseTwiceAt} tooltip /> while its agent was connected, and was refused. The credential may have been copied (a cloned disk or VM): revoke it and enroll the device again.
        </Alert>
      )}
      <RestrictionPanel machine={m} />
      <Paper withBorder p={4}>
        <ActionBar machine={m} onOpenActionCenter={() => change('actionCenter', 'open')} />
      </Paper>
      <Tabs value={tab} onChange={(v) => change('tab', v && v !== 'timeline' ? v : null)} keepMounted={false}>
        <Tabs.List>
          <Tabs.Tab value="timeline">Timeline</Tabs.Tab>
          <Tabs.Tab value="alerts">Alerts</Tabs.Tab>
          <Tabs.Tab value="actions">Actions</Tabs.Tab>
          <Tabs.Tab value="quarantine">Quarantine</Tabs.Tab>
        </Tabs.List>
        <Tabs.Panel value="timeline" pt="sm">
          <Timeline machineId={m.id} />
        </Tabs.Panel>
        <Tabs.Panel value="alerts" pt="sm">
          <DeviceAlerts machineId={m.id} />
        </Tabs.Panel>
        <Tabs.Panel value="actions" pt="sm">
          <ActionsTable filter={`machineId eq ${literal(m.id)}`} showDevice={false} testId="device-actions-table" emptyText="No action on this device yet" />
        </Tabs.Panel>
        <Tabs.Panel value="quarantine" pt="sm">
          <QuarantineList machine={m} />
        </Tabs.Panel>
      </Tabs>
      {/* An action's detail pane opens over the fly-out: Escape closes that pane first. */}
      <Drawer opened={actionCenter} onClose={() => change('actionCenter', null)} closeOnEscape={!params.get('action')} position="right" size="80%" title={`Action center — ${m.computerDnsName}`}>
        <ActionsTable filter={`machineId eq ${literal(m.id)}`} showDevice={false} pageSize={15} testId="flyout-actions-table" emptyText="No action on this device yet" />
      </Drawer>
    </Stack>
  );
}
