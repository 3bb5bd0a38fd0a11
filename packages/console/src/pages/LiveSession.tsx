import { Alert, Anchor, Badge, Button, Group, Paper, ScrollArea, Stack, Table, Text, Title } from '@mantine/core';
import { IconDownload, IconPlayerStop } from '@tabler/icons-react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useCallback, useState } from 'react';
import { Link, useParams } from 'react-router';
import { api, ApiRequestError, messageOf, ok } from '../api';
import { LiveTerminal, type CommandRow, type LiveSessionState } from '../components/LiveTerminal';
import { ErrorState, FullPageLoader } from '../components/QueryState';
import { useMe } from '../session';
import { NotFoundPage } from './NotFound';

const sessionKey = (id: string) => ['liveSession', id] as const;

const STATE_COLORS: Record<LiveSessionState, string> = { Queued: 'yellow', Active: 'green', Ended: 'gray' };
const STATUS_COLORS: Record<CommandRow['status'], string> = { Running: 'blue', Succeeded: 'green', Failed: 'red', Cancelled: 'gray', TimedOut: 'orange' };

/** One page per session: moving to another one starts a fresh terminal. */
export function LiveSessionRoute() {
  const { sessionId = '', machineId = '' } = useParams();
  return <LiveSessionPage key={sessionId} id={sessionId} machineId={machineId} />;
}

/**
 * A live-response session: who opened it and its state, its terminal (typed in by its opener,
 * followed by anyone else), the lines it ran, its transcript downloads, and End session.
 */
function LiveSessionPage({ id, machineId }: { id: string; machineId: string }) {
  const me = useMe();
  const queryClient = useQueryClient();
  const session = useQuery({
    queryKey: sessionKey(id),
    queryFn: () => ok(api.GET('/api/liveResponseSessions/{id}', { params: { path: { id } } })),
    // The stream says when the state changes; a queued session is asked again as well, in case the stream is down.
    refetchInterval: (q) => (q.state.data?.state === 'Queued' ? 5000 : false),
  });
  const [commands, setCommands] = useState<Map<number, CommandRow>>(new Map());
  // The files getfile sent: asked again each time a getfile line ends.
  const files = useQuery({
    queryKey: [...sessionKey(id), 'files'],
    queryFn: () => ok(api.GET('/api/liveResponseSessions/{id}/files', { params: { path: { id } } })),
  });
  const onCommand = useCallback(
    (row: CommandRow) => {
      setCommands((prev) => new Map(prev).set(row.seq, row));
      if (/^\s*getfile\b/.test(row.line) && row.status !== 'Running') void queryClient.invalidateQueries({ queryKey: [...sessionKey(id), 'files'] });
    },
    [queryClient, id],
  );
  const onStateEvent = useCallback(() => void queryClient.invalidateQueries({ queryKey: sessionKey(id) }), [queryClient, id]);
  const endSession = useMutation({
    mutationFn: () => ok(api.POST('/api/liveResponseSessions/{id}/end', { params: { path: { id } }, body: {} })),
    onSuccess: (s) => queryClient.setQueryData(sessionKey(id), s),
  });

  if (session.isPending) return <FullPageLoader />;
  if (session.error) {
    if (session.error instanceof ApiRequestError && session.error.status === 404) return <NotFoundPage />;
    return <ErrorState error={session.error} onRetry={() => void session.refetch()} />;
  }
  const s = session.data;
  const canType = s.openedBy === me.name;
  const rows = [...commands.values()].sort((a, b) => a.seq - b.seq);
  const base = `/api/liveResponseSessions/${encodeURIComponent(id)}/transcript`;

  return (
    <Stack gap="sm" h="calc(100vh - 100px)">
      <Group justify="space-between" wrap="nowrap">
        <Stack gap={2}>
          <Group gap="xs">
            <Title order={3}>
              Live response — <Anchor component={Link} to={`/devices/${machineId || s.machineId}`} inherit>{s.computerDnsName}</Anchor>
            </Title>
            <Badge color={STATE_COLORS[s.state]} data-testid="live-session-state">
              {s.state === 'Queued' ? 'Queued: waiting for the device' : s.state === 'Ended' ? `Ended${s.endReason && s.endReason !== 'Ended' ? `: ${s.endReason}` : ''}` : 'Active'}
            </Badge>
            <Badge variant="light" color={s.level === 'advanced' ? 'grape' : 'blue'} data-testid="live-session-level">
              {s.level}
            </Badge>
          </Group>
          <Text size="sm" c="dimmed">
            Opened by {s.openedBy}: {s.comment}
          </Text>
        </Stack>
      </Group>
      {!canType && (
        <Alert color="blue" py="xs" data-testid="live-following">
          You are following {s.openedBy}&apos;s session: only they can type in it.
        </Alert>
      )}
      <Group align="stretch" gap="sm" wrap="nowrap" style={{ flex: 1, minHeight: 0 }}>
        <div style={{ flex: 1, minWidth: 0 }}>
          <LiveTerminal sessionId={id} state={s.state} endReason={s.endReason} canType={canType} me={me.name} onCommand={onCommand} onStateEvent={onStateEvent} />
        </div>
        <Paper withBorder p="sm" w={360} style={{ display: 'flex', flexDirection: 'column', gap: 8 }}>
          <Text fw={600} size="sm">
            Commands
          </Text>
          <ScrollArea style={{ flex: 1 }}>
            <Table data-testid="live-commands" fz="xs" verticalSpacing={2}>
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>#</Table.Th>
                  <Table.Th>Line</Table.Th>
                  <Table.Th>Status</Table.Th>
                  <Table.Th>Exit</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {rows.map((c) => (
                  <Table.Tr key={c.seq} data-seq={c.seq}>
                    <Table.Td>{c.seq}</Table.Td>
                    <Table.Td style={{ fontFamily: 'monospace', wordBreak: 'break-all' }}>{c.line}</Table.Td>
                    <Table.Td>
                      <Badge size="xs" color={STATUS_COLORS[c.status]}>
                        {c.status}
                      </Badge>
                    </Table.Td>
                    <Table.Td>{c.exitStatus ?? ''}</Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
            {rows.length === 0 && (
              <Text size="xs" c="dimmed">
                No commands yet.
              </Text>
            )}
          </ScrollArea>
          {(files.data?.value.length ?? 0) > 0 && (
            <Stack gap={4} data-testid="live-files">
              <Text fw={600} size="sm">
                Files
              </Text>
              {files.data!.value.map((f) => (
                <Group key={f.id} gap={6} wrap="nowrap">
                  {f.status === 'Complete' ? (
                    <Anchor href={`/api/liveResponseSessions/${encodeURIComponent(id)}/files/${f.id}/content`} size="xs" style={{ fontFamily: 'monospace', wordBreak: 'break-all' }} title={`SHA-256 ${f.sha256 ?? ''}`}>
                      {f.path}
                    </Anchor>
                  ) : (
                    <Text size="xs" c="dimmed" style={{ fontFamily: 'monospace', wordBreak: 'break-all' }}>
                      {f.path} (being sent)
                    </Text>
                  )}
                  <Text size="xs" c="dimmed" style={{ whiteSpace: 'nowrap' }}>
                    {(f.size / 1048576).toFixed(1)} MB
                  </Text>
                </Group>
              ))}
            </Stack>
          )}
          <Button component="a" href={base} download={`live-${id}.json`} variant="light" size="xs" leftSection={<IconDownload size={14} />} data-testid="download-transcript">
            Download transcript (JSON)
          </Button>
          <Button component="a" href={`${base}?format=cast`} download={`live-${id}.cast`} variant="light" size="xs" leftSection={<IconDownload size={14} />} data-testid="download-cast">
            Download recording (.cast)
          </Button>
          {s.state !== 'Ended' && (canType || me.permissions.includes('actions.cancel')) && (
            <Button color="red" variant="light" size="xs" leftSection={<IconPlayerStop size={14} />} loading={endSession.isPending} onClick={() => endSession.mutate()}>
              End session
            </Button>
          )}
          {endSession.error && (
            <Text size="xs" c="red" role="alert">
              {messageOf(endSession.error)}
            </Text>
          )}
        </Paper>
      </Group>
    </Stack>
  );
}
