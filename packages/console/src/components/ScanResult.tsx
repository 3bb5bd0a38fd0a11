import type { MachineAction } from '@cordon/api-client';
import { scanResultOf, skipReasonLabel, type ScanResult as ScanResultData } from '@cordon/protocol/scan-result';
import { Anchor, Badge, Code, SimpleGrid, Stack, Table, Text } from '@mantine/core';
import type { ReactNode } from 'react';
import { Link } from 'react-router';
import { formatBytes } from '../format';
import { SeverityBadge } from './StateBadges';

/** Skipped files the pane lists (the result keeps up to 200; all are counted by reason). */
const SKIPPED_SHOWN = 20;

const count = (n: number, one: string, many = `${one}s`) => `${n.toLocaleString()} ${n === 1 ? one : many}`;

/** A finished scan, as the Action center's Result column says it: what it found, in a few words. */
export function ScanResultCell({ action }: { action: MachineAction }) {
  const r = scanResultOf(action.result);
  if (!r) return null;
  return (
    <Text size="xs" data-testid="scan-result-cell">
      <Text span size="xs" fw={r.detections > 0 ? 700 : undefined} c={r.detections > 0 ? 'red' : undefined}>
        {r.detections > 0 ? count(r.detections, 'detection') : 'No detections'}
      </Text>
      <br />
      {count(r.files, 'file')}
      {r.skipped > 0 ? `, ${r.skipped.toLocaleString()} skipped` : ''}
    </Text>
  );
}

function Fact({ label, name, children }: { label: string; name: string; children: ReactNode }) {
  return (
    <div>
      <Text size="xs" c="dimmed">
        {label}
      </Text>
      <Text size="sm" component="div" data-fact={name}>
        {children}
      </Text>
    </div>
  );
}

function Detections({ r }: { r: ScanResultData }) {
  if (r.detections === 0) {
    return (
      <Text size="sm" c="green" data-testid="scan-no-detections">
        No detections.
      </Text>
    );
  }
  return (
    <Stack gap={4}>
      <Text size="sm" fw={500}>
        {count(r.detections, 'detection')}
        {r.detectionList.length < r.detections ? ` (the first ${r.detectionList.length} listed; every one is an alert)` : ''}
      </Text>
      <Table verticalSpacing={4} data-testid="scan-detections">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Threat</Table.Th>
            <Table.Th>File</Table.Th>
            <Table.Th>Severity</Table.Th>
            <Table.Th>Alert</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {r.detectionList.map((d) => (
            <Table.Tr key={d.eventId} data-testid="scan-detection">
              <Table.Td>
                <Text size="sm" fw={500} style={{ wordBreak: 'break-word' }}>
                  {d.threat}
                </Text>
                <Text size="xs" c="dimmed">
                  {d.engine === 'Indicator' ? 'File hash indicator' : `YARA rule${d.source ? ` (${d.source})` : ''}`}
                </Text>
              </Table.Td>
              <Table.Td>
                <Code style={{ wordBreak: 'break-all' }} data-testid="scan-detection-path">
                  {d.path}
                </Code>
              </Table.Td>
              <Table.Td style={{ whiteSpace: 'nowrap' }}>
                <SeverityBadge severity={d.severity} />
              </Table.Td>
              <Table.Td style={{ whiteSpace: 'nowrap' }}>
                {d.alertId ? (
                  <Anchor component={Link} to={`/alerts/${d.alertId}`} size="sm" data-testid="scan-detection-alert">
                    Open alert
                  </Anchor>
                ) : (
                  <Text size="xs" c="dimmed" title="The device's detection event has not reached the server yet">
                    Not in yet
                  </Text>
                )}
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Stack>
  );
}

function Skipped({ r }: { r: ScanResultData }) {
  const reasons = Object.entries(r.skippedByReason).filter(([, n]) => n > 0);
  if (r.skipped === 0) return <Text size="sm">Nothing skipped.</Text>;
  return (
    <Stack gap={4}>
      <Text size="sm" fw={500}>
        {count(r.skipped, 'file')} skipped
      </Text>
      <Table withRowBorders={false} verticalSpacing={2} data-testid="scan-skipped-by-reason">
        <Table.Tbody>
          {reasons.map(([reason, n]) => (
            <Table.Tr key={reason} data-reason={reason}>
              <Table.Td w={80} ta="right">
                {n.toLocaleString()}
              </Table.Td>
              <Table.Td>{skipReasonLabel(reason)}</Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      {r.skippedList.length > 0 && (
        <Table verticalSpacing={2} data-testid="scan-skipped">
          <Table.Tbody>
            {r.skippedList.slice(0, SKIPPED_SHOWN).map((s, i) => (
              <Table.Tr key={i}>
                <Table.Td>
                  <Code style={{ wordBreak: 'break-all' }}>{s.path}</Code>
                </Table.Td>
                <Table.Td>
                  <Text size="xs">{skipReasonLabel(s.reason)}</Text>
                  <Text size="xs" c="dimmed">
                    {s.detail}
                  </Text>
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
      {r.skippedList.length > SKIPPED_SHOWN && (
        <Text size="xs" c="dimmed">
          and {(r.skippedList.length - SKIPPED_SHOWN).toLocaleString()} more in the action&apos;s result (API)
        </Text>
      )}
    </Stack>
  );
}

/** A finished scan in the action's detail pane: what it read and how, each detection linked to its alert, what it skipped and why. */
export function ScanResult({ result }: { result: Record<string, unknown> }) {
  const r = scanResultOf(result);
  if (!r) return null;
  const packs = r.rules.packs.map((p) => `${p.name} v${p.version}`);
  return (
    <Stack gap="sm" data-testid="scan-result">
      <SimpleGrid cols={4} spacing="xs">
        <Fact label="Files" name="files">
          {r.files.toLocaleString()}
        </Fact>
        <Fact label="Read" name="bytes">
          <span title={`${r.bytes.toLocaleString()} bytes`}>{formatBytes(r.bytes)}</span>
        </Fact>
        <Fact label="Archive members" name="archiveMembers">
          {r.archiveMembers.toLocaleString()}
        </Fact>
        <Fact label="Detections" name="detections">
          {r.detections > 0 ? (
            <Badge color="red" variant="filled">
              {r.detections.toLocaleString()}
            </Badge>
          ) : (
            '0'
          )}
        </Fact>
        <Fact label="Skipped" name="skipped">
          {r.skipped.toLocaleString()}
        </Fact>
        <Fact label="Took" name="duration">
          {(r.durationMs / 1000).toFixed(1)} s
        </Fact>
        <Fact label="CPU used" name="cpu">
          {r.cpuPercentUsed}% (cap {r.cpuPercentCap}%)
        </Fact>
        <Fact label="Signatures" name="rules">
          {count(r.rules.ruleCount, 'rule')} (built-in{packs.length ? `, ${packs.join(', ')}` : ''}), {count(r.hashIndicators, 'hash indicator')}
        </Fact>
      </SimpleGrid>
      <Detections r={r} />
      <Skipped r={r} />
      {(r.notRead.links > 0 || r.notRead.special > 0) && (
        <Text size="xs" c="dimmed" data-testid="scan-not-read">
          Not read, by design: {count(r.notRead.links, 'symbolic link')} (never followed), {count(r.notRead.special, 'device node, FIFO or socket', 'device nodes, FIFOs and sockets')}.
        </Text>
      )}
    </Stack>
  );
}
