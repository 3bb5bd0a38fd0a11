import type { Alert, AlertEvidence, paths } from '@cordon/api-client';
import { Alert as Notice, Anchor, Badge, Button, Code, Group, Paper, Select, SimpleGrid, Stack, Text, Textarea, TextInput, Title } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { DataTable } from 'mantine-datatable';
import { useState, type ReactNode } from 'react';
import { Link, useNavigate, useParams } from 'react-router';
import { api, ApiRequestError, keys, messageOf, ok } from '../api';
import { formatTime } from '../format';
import { ActionBar } from '../components/ActionBar';
import { QuarantineFromEvidence } from '../components/Quarantine';
import { ErrorState, FullPageLoader } from '../components/QueryState';
import { ALERT_STATUS_LABELS, AlertStatusBadge, MachineBadges, SeverityBadge } from '../components/StateBadges';
import { Ago, Time } from '../components/Time';
import { useCan, useMe } from '../session';
import { ALERT_CLASSIFICATIONS, ALERT_DETERMINATIONS, ALERT_STATUSES, type AlertClassification, type AlertDetermination } from '@cordon/protocol/alert-triage';

type AlertChange = paths['/api/alerts/{id}']['patch']['requestBody']['content']['application/json'];

const CLASSIFICATION_LABELS: Record<AlertClassification, string> = {
  TruePositive: 'True positive',
  InformationalExpectedActivity: 'Informational, expected activity',
  FalsePositive: 'False positive',
  Unknown: 'Unknown',
};
const CLASSIFICATIONS = ALERT_CLASSIFICATIONS.map((value) => ({ value, label: CLASSIFICATION_LABELS[value] }));
/** "MultiStagedAttack" as people say it: "Multi staged attack" (APT stays in capitals). */
const spoken = (name: string): string => (name === 'Apt' ? 'APT' : name.replace(/(?<=[a-z])(?=[A-Z])/g, ' ').replace(/ (\w)/g, (_, c: string) => ` ${c.toLowerCase()}`));
const classificationLabel = (c: string | null) => (c ? (CLASSIFICATION_LABELS[c as AlertClassification] ?? c) : '—');

function Fact({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div>
      <Text size="xs" c="dimmed">
        {label}
      </Text>
      <Text size="sm" component="div" style={{ overflowWrap: 'anywhere' }}>
        {children}
      </Text>
    </div>
  );
}

/** One page per alert: moving to another alert starts fresh (its unsaved changes, its comment). */
export function AlertRoute() {
  const { id = '' } = useParams();
  return <AlertPage key={id} id={id} />;
}

function AlertPage({ id }: { id: string }) {
  const alert = useQuery({ queryKey: keys.alert(id), queryFn: () => ok(api.GET('/api/alerts/{id}', { params: { path: { id } } })) });
  if (alert.isPending) return <FullPageLoader />;
  if (alert.error instanceof ApiRequestError && alert.error.status === 404) {
    return (
      <Stack data-testid="no-such-alert">
        <Title order={2}>No such alert</Title>
        <Text>No alert has the id {id}: it may have been mistyped, or the link is from another Cordon server.</Text>
        <Anchor component={Link} to="/alerts">
          Back to the alerts queue
        </Anchor>
      </Stack>
    );
  }
  if (alert.error) return <ErrorState error={alert.error} onRetry={() => void alert.refetch()} />;
  const a = alert.data;

  return (
    <Stack>
      <Paper withBorder p="md" data-testid="alert-header">
        <Stack gap="sm">
          <Group justify="space-between" align="start" wrap="nowrap">
            {/* Titles are stored as sent (HTML or script included) and only ever shown as text. */}
            <Title order={2} data-testid="alert-page-title" style={{ overflowWrap: 'anywhere' }}>
              {a.title}
            </Title>
            <Group gap="xs" wrap="nowrap">
              <SeverityBadge severity={a.severity} />
              <AlertStatusBadge status={a.status} />
            </Group>
          </Group>
          <Text size="sm" style={{ whiteSpace: 'pre-wrap', overflowWrap: 'anywhere' }} c={a.description ? undefined : 'dimmed'} data-testid="alert-description">
            {a.description ?? 'No description'}
          </Text>
          <SimpleGrid cols={{ base: 2, md: 4 }}>
            <Fact label="Detection source">{a.detectionSource}</Fact>
            <Fact label="Category">{a.category ?? '—'}</Fact>
            <Fact label="MITRE techniques">
              {a.mitreTechniques.length === 0 ? (
                '—'
              ) : (
                <Group gap={4}>
                  {a.mitreTechniques.map((t) => (
                    <Badge key={t} variant="outline" tt="none">
                      {t}
                    </Badge>
                  ))}
                </Group>
              )}
            </Fact>
            <Fact label="Events">{a.eventCount}</Fact>
            <Fact label="First event">
              <Time value={a.firstEventTime} />
            </Fact>
            <Fact label="Last event">
              <Time value={a.lastEventTime} />
            </Fact>
            <Fact label="Created">
              <Time value={a.alertCreationTime} />
            </Fact>
            <Fact label={a.resolvedTime ? 'Resolved' : 'Last updated'}>
              <Time value={a.resolvedTime ?? a.lastUpdateTime} />
            </Fact>
            <Fact label="Assigned to">{a.assignedTo ?? 'Unassigned'}</Fact>
            <Fact label="Classification">{classificationLabel(a.classification)}</Fact>
            <Fact label="Determination">{a.determination ? spoken(a.determination) : '—'}</Fact>
            <Fact label="Sent by">{a.createdBy}</Fact>
          </SimpleGrid>
        </Stack>
      </Paper>
      <AlertDeviceCard alert={a} />
      <ManageAlert alert={a} />
      <Paper withBorder p="md">
        <Stack gap="xs">
          <Title order={4}>Evidence</Title>
          <Evidence evidence={a.evidence} machineId={a.machineId} />
        </Stack>
      </Paper>
      <Comments alert={a} />
    </Stack>
  );
}

/** The device the alert is on, with its response-action bar: responding is one click from the alert. */
function AlertDeviceCard({ alert }: { alert: Alert }) {
  const navigate = useNavigate();
  const machineId = alert.machineId;
  const machine = useQuery({
    queryKey: keys.machine(machineId ?? ''),
    queryFn: () => ok(api.GET('/api/machines/{id}', { params: { path: { id: machineId! } } })),
    enabled: machineId !== null,
  });
  if (!machineId) {
    return (
      <Notice color="yellow" title="Device not enrolled yet" data-testid="alert-not-enrolled">
        The host {alert.computerDnsName ? `“${alert.computerDnsName}”` : 'this alert names'} has not enrolled in Cordon: there is no device to respond on yet. The alert is joined to its device, and counts towards its risk, when it enrolls.
      </Notice>
    );
  }
  const m = machine.data && 'id' in machine.data ? machine.data : undefined;
  return (
    <Paper withBorder p="md" data-testid="alert-device">
      <Stack gap="sm">
        <Group justify="space-between" align="start">
          <div>
            <Text size="xs" c="dimmed">
              Device
            </Text>
            <Anchor component={Link} to={`/devices/${machineId}`} fw={600} data-testid="alert-device-link" style={{ overflowWrap: 'anywhere' }}>
              {m?.computerDnsName ?? alert.computerDnsName ?? machineId}
            </Anchor>
            {m && (
              <Text size="sm" c="dimmed">
                {m.osPlatform} {m.osVersion} · last seen <Ago value={m.lastSeen} />
              </Text>
            )}
          </div>
          {m && <MachineBadges machine={m} />}
        </Group>
        {machine.error && <ErrorState error={machine.error} onRetry={() => void machine.refetch()} />}
        {m && <ActionBar machine={m} onOpenActionCenter={() => void navigate(`/devices/${machineId}?actionCenter=open`)} />}
      </Stack>
    </Paper>
  );
}

/** Status, assignment, classification and determination: analysts and up change them, others read them above. */
function ManageAlert({ alert }: { alert: Alert }) {
  const can = useCan();
  const me = useMe();
  // Only what the user changed is kept here, so a live refresh of the alert shows through everything else.
  const [draft, setDraft] = useState<AlertChange>({});
  const queryClient = useQueryClient();
  const save = useMutation({
    mutationFn: (change: AlertChange) => ok(api.PATCH('/api/alerts/{id}', { params: { path: { id: alert.id } }, body: change })),
    onSuccess: (updated) => {
      queryClient.setQueryData(keys.alert(alert.id), updated);
      // Lists and the device's risk follow.
      for (const key of [keys.alerts(), keys.machines()]) void queryClient.invalidateQueries({ queryKey: key });
      if (alert.machineId) void queryClient.invalidateQueries({ queryKey: keys.machine(alert.machineId) });
      setDraft({});
      notifications.show({ color: 'green', message: 'Alert updated' });
    },
  });
  if (!can('alerts.write')) {
    return (
      <Text size="sm" c="dimmed" data-testid="alert-read-only">
        Your role may read this alert; analysts and up change its status, assignment and classification.
      </Text>
    );
  }
  const value = <K extends keyof AlertChange>(k: K, current: AlertChange[K]): AlertChange[K] => (k in draft ? draft[k] : current);
  const change = (c: AlertChange) => setDraft((d) => ({ ...d, ...c }));
  const assignee = value('assignedTo', alert.assignedTo) ?? '';
  // What differs from the alert as stored: a field set back to its value is not sent.
  const changed = Object.fromEntries(
    Object.entries({ ...draft, ...('assignedTo' in draft ? { assignedTo: (draft.assignedTo ?? '').trim() || null } : {}) }).filter(([k, v]) => v !== alert[k as keyof Alert]),
  ) as AlertChange;
  return (
    <Paper withBorder p="md" data-testid="manage-alert">
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (Object.keys(changed).length) save.mutate(changed);
        }}
      >
        <Stack gap="sm">
          <Title order={4}>Manage alert</Title>
          <Group align="end" gap="sm">
            <Select label="Status" data={ALERT_STATUSES.map((s) => ({ value: s, label: ALERT_STATUS_LABELS[s]! }))} value={value('status', alert.status as AlertChange['status']) ?? null} onChange={(v) => v && change({ status: v as AlertChange['status'] })} allowDeselect={false} w={150} />
            <TextInput
              label="Assigned to"
              placeholder="Unassigned"
              value={assignee}
              onChange={(e) => change({ assignedTo: e.currentTarget.value })}
              maxLength={256}
              w={220}
              rightSectionWidth={110}
              rightSection={
                assignee !== me.name ? (
                  <Button size="compact-xs" variant="subtle" onClick={() => change({ assignedTo: me.name })}>
                    Assign to me
                  </Button>
                ) : undefined
              }
            />
            <Select label="Classification" placeholder="Not set" clearable data={CLASSIFICATIONS} value={value('classification', alert.classification as AlertClassification | null) ?? null} onChange={(v) => change({ classification: v as AlertClassification | null })} w={250} />
            <Select
              label="Determination"
              placeholder="Not set"
              clearable
              searchable
              data={ALERT_DETERMINATIONS.map((d) => ({ value: d, label: spoken(d) }))}
              value={value('determination', alert.determination as AlertDetermination | null) ?? null}
              onChange={(v) => change({ determination: v as AlertDetermination | null })}
              w={230}
            />
            <Button type="submit" loading={save.isPending} disabled={Object.keys(changed).length === 0}>
              Save
            </Button>
            {Object.keys(draft).length > 0 && (
              <Button variant="default" onClick={() => setDraft({})}>
                Discard
              </Button>
            )}
          </Group>
          {save.error && (
            <Text c="red" size="sm" role="alert">
              {messageOf(save.error)}
            </Text>
          )}
        </Stack>
      </form>
    </Paper>
  );
}

/** Every comment, oldest first, and (analysts and up) a new one. */
function Comments({ alert }: { alert: Alert }) {
  const can = useCan();
  const [text, setText] = useState('');
  const queryClient = useQueryClient();
  const add = useMutation({
    mutationFn: () => ok(api.PATCH('/api/alerts/{id}', { params: { path: { id: alert.id } }, body: { comment: text.trim() } })),
    onSuccess: (updated) => {
      queryClient.setQueryData(keys.alert(alert.id), updated);
      setText('');
    },
  });
  return (
    <Paper withBorder p="md" data-testid="alert-comments">
      <Stack gap="xs">
        <Title order={4}>Comments</Title>
        {alert.comments.length === 0 && (
          <Text size="sm" c="dimmed">
            No comments yet.
          </Text>
        )}
        {alert.comments.map((c, i) => (
          <div key={i} data-testid="alert-comment">
            <Text size="xs" c="dimmed">
              {c.createdBy} · <Time value={c.createdTime} />
            </Text>
            <Text size="sm" style={{ whiteSpace: 'pre-wrap', overflowWrap: 'anywhere' }}>
              {c.comment}
            </Text>
          </div>
        ))}
        {can('alerts.write') && (
          <form
            onSubmit={(e) => {
              e.preventDefault();
              if (text.trim()) add.mutate();
            }}
          >
            <Stack gap="xs">
              <Textarea label="Add a comment" value={text} onChange={(e) => setText(e.currentTarget.value)} maxLength={4000} autosize minRows={2} error={add.error ? messageOf(add.error) : undefined} />
              <Group justify="end">
                <Button type="submit" loading={add.isPending} disabled={!text.trim()}>
                  Add comment
                </Button>
              </Group>
            </Stack>
          </form>
        )}
      </Stack>
    </Paper>
  );
}

const ENTITY_LABELS: Record<string, string> = { File: 'File', Process: 'Process', Ip: 'Network', Url: 'URL', User: 'User' };

/** What an evidence entity says, field by field: whatever its type, every field the source sent is shown. */
const EVIDENCE_FIELDS: [string, (e: AlertEvidence) => string | number | null, boolean][] = [
  ['Path', (e) => e.filePath, true],
  ['File name', (e) => (e.filePath ? null : e.fileName), true],
  ['SHA-256', (e) => e.sha256, true],
  ['SHA-1', (e) => e.sha1, true],
  ['MD5', (e) => e.md5, true],
  ['PID', (e) => e.processId, false],
  ['Command line', (e) => e.processCommandLine, true],
  ['Started', (e) => (e.processCreationTime ? formatTime(e.processCreationTime) : null), false],
  ['Parent PID', (e) => e.parentProcessId, false],
  ['Parent', (e) => e.parentProcessFilePath, true],
  ['User', (e) => e.accountName, false],
  ['IP address', (e) => e.ipAddress, true],
  ['Port', (e) => e.port, false],
  ['Domain', (e) => e.domain, true],
  ['URL', (e) => e.url, true],
];

/** Each entity the source sent; on an enrolled device, a file with a hash can be stopped and quarantined from its row. */
function Evidence({ evidence, machineId }: { evidence: AlertEvidence[]; machineId: string | null }) {
  const files = machineId !== null && evidence.some((e) => e.entityType === 'File' && (e.sha256 || e.sha1));
  return (
    <div data-testid="alert-evidence">
      <DataTable<AlertEvidence>
        records={evidence}
        idAccessor={(e) => `${evidence.indexOf(e)}`}
        withTableBorder
        minHeight={evidence.length ? undefined : 120}
        noRecordsText="The source sent no evidence"
        columns={[
          { accessor: 'entityType', title: 'Entity', width: 100, render: (e) => <Badge variant="light" tt="none">{ENTITY_LABELS[e.entityType] ?? e.entityType}</Badge> },
          {
            accessor: 'details',
            title: 'Details',
            render: (e) => (
              <Stack gap={2}>
                {EVIDENCE_FIELDS.map(([label, get, code]) => {
                  const v = get(e);
                  if (v === null || v === undefined || v === '') return null;
                  return (
                    <Text key={label} size="sm" style={{ overflowWrap: 'anywhere' }}>
                      <Text span size="xs" c="dimmed">
                        {label}:{' '}
                      </Text>
                      {code ? <Code>{String(v)}</Code> : String(v)}
                    </Text>
                  );
                })}
              </Stack>
            ),
          },
          { accessor: 'detectionStatus', title: 'Detection', width: 110, render: (e) => e.detectionStatus ?? '—' },
          { accessor: 'evidenceCreationTime', title: 'Seen', noWrap: true, render: (e) => <Time value={e.evidenceCreationTime} /> },
          ...(files ? [{ accessor: 'respond', title: 'Respond', width: 230, render: (e: AlertEvidence) => <QuarantineFromEvidence machineId={machineId} evidence={e} /> }] : []),
        ]}
      />
    </div>
  );
}
