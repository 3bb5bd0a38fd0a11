import type { Machine } from '@cordon/api-client';
import { Alert, List, Stack, Text } from '@mantine/core';
import { RESTRICTION_NOT_COVERED } from '../restriction';
import { Ago } from './Time';

/** What a restriction does not stop, said before it is applied and while it is in force. */
export function NotCovered() {
  return (
    <Stack gap={4} data-testid="restriction-not-covered">
      <Text size="sm">Not covered by a restriction:</Text>
      <List size="sm">
        {RESTRICTION_NOT_COVERED.map((n) => (
          <List.Item key={n}>{n}</List.Item>
        ))}
      </List>
    </Stack>
  );
}

/**
 * The device's restriction while it is restricted: since when, what the guard trusts, and how the
 * guard is doing; a guard restarting means programs start unchecked until it is back.
 */
export function RestrictionPanel({ machine }: { machine: Machine }) {
  const r = machine.restriction;
  if (machine.restrictionState !== 'Restricted' || r?.state !== 'Restricted') return null;
  const down = r.guard === 'restarting';
  return (
    <Alert color={down || r.error ? 'orange' : 'violet'} title={down ? 'App execution restricted — guard restarting' : 'App execution restricted'} data-testid="restriction-panel" data-guard={r.guard ?? ''}>
      <Stack gap="xs">
        <Text size="sm">
          Only trusted programs may start on {machine.computerDnsName}
          {r.since && (
            <>
              {' '}since <Ago value={r.since} tooltip />
            </>
          )}
          {r.trusted && `: ${r.trusted.packageFiles.toLocaleString('en-US')} package files and ${r.trusted.allowedHashes.toLocaleString('en-US')} allowed hashes are trusted`}
          . Remove app restrictions from the action bar to undo it.
        </Text>
        {down && <Text size="sm" fw={600}>The exec guard stopped and is restarting: until it is back, the kernel lets every program start.</Text>}
        {r.error && (
          <Text size="sm" data-testid="restriction-error">
            Last problem: {r.error}
          </Text>
        )}
        <NotCovered />
      </Stack>
    </Alert>
  );
}
