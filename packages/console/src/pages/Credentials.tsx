import type { components } from '@cordon/api-client';
import { Badge, Button, Code, Stack, Tabs, Text, Title } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { DataTable, type DataTableColumn } from 'mantine-datatable';
import { useState, type ReactNode } from 'react';
import { useSearchParams } from 'react-router';
import { api, keys, ok } from '../api';
import { ErrorState } from '../components/QueryState';
import { RevokeDialog, type RevokeRequest } from '../components/RevokeDialog';
import { Ago, Time } from '../components/Time';

type Schemas = components['schemas'];
type Token = Schemas['TokenInfo'];
type App = Schemas['AppInfo'];
type User = Schemas['UserInfo'];
type EnrollmentToken = Schemas['EnrollmentTokenInfo'];

/** The API's page limit: an installation has far fewer credentials than this. */
const LIMIT = 1000;
const page = { query: { $top: LIMIT } };

/** Who made it and when, on two lines. */
function Made({ at, by }: { at: string; by: string | null }) {
  return (
    <>
      <Text size="sm">
        <Time value={at} />
      </Text>
      <Text size="xs" c="dimmed">
        {by ? `by ${by}` : 'by (not recorded)'}
      </Text>
    </>
  );
}

function LastUsed({ at }: { at: string | null }) {
  return (
    <Text size="sm">
      <Ago value={at} />
    </Text>
  );
}

/** Live, expired, or revoked/disabled with when and by whom. */
function State({ endedAt, endedBy, ended, expiresAt }: { endedAt: string | null; endedBy: string | null; ended: string; expiresAt?: string | null }) {
  if (endedAt) {
    return (
      <>
        <Badge color="red" variant="light" data-testid="credential-state">
          {ended}
        </Badge>
        <Text size="xs" c="dimmed">
          <Time value={endedAt} /> by {endedBy ?? '(not recorded)'}
        </Text>
      </>
    );
  }
  if (expiresAt && Date.parse(expiresAt) <= Date.now()) {
    return (
      <>
        <Badge color="gray" variant="light" data-testid="credential-state">
          Expired
        </Badge>
        <Text size="xs" c="dimmed">
          <Time value={expiresAt} />
        </Text>
      </>
    );
  }
  return (
    <>
      <Badge color="green" variant="light" data-testid="credential-state">
        Active
      </Badge>
      {expiresAt && (
        <Text size="xs" c="dimmed">
          until <Time value={expiresAt} />
        </Text>
      )}
    </>
  );
}

/**
 * One kind of credential: its list (newest first, from the API) and, on each live entry, the
 * button that opens the revocation dialog. The dialog belongs to the table, not the row, so a
 * refresh of the list never closes it while the comment is typed.
 */
function CredentialTable<T>({
  kind,
  fetch,
  rowId,
  isLive,
  revoke,
  columns,
  empty,
}: {
  kind: string;
  fetch: () => Promise<{ value: T[] }>;
  rowId: (row: T) => string;
  isLive: (row: T) => boolean;
  revoke: (row: T) => RevokeRequest & { label: string };
  columns: DataTableColumn<T>[];
  empty: string;
}) {
  const list = useQuery({ queryKey: keys.credentials(kind), queryFn: fetch });
  const [revoking, setRevoking] = useState<RevokeRequest | null>(null);
  if (list.error) return <ErrorState error={list.error} onRetry={() => void list.refetch()} />;
  const rows = list.data?.value ?? [];
  return (
    <Stack gap="xs">
      <div data-testid={`credentials-${kind}`}>
        <DataTable<T>
          records={rows}
          fetching={list.isFetching}
          withTableBorder
          highlightOnHover
          minHeight={160}
          idAccessor={rowId}
          customRowAttributes={(row) => ({ 'data-credential': rowId(row) })}
          noRecordsText={empty}
          columns={[
            ...columns,
            {
              accessor: 'revoke',
              title: '',
              width: 110,
              textAlign: 'right',
              render: (row): ReactNode => {
                if (!isLive(row)) return null;
                const r = revoke(row);
                return (
                  <Button size="compact-xs" color="red" variant="light" onClick={() => setRevoking(r)}>
                    {r.label}
                  </Button>
                );
              },
            },
          ]}
        />
      </div>
      {rows.length >= LIMIT && (
        <Text size="xs" c="dimmed">
          The first {LIMIT} are shown; the API pages through the rest ($top, $skip).
        </Text>
      )}
      {revoking && <RevokeDialog request={revoking} onClose={() => setRevoking(null)} />}
    </Stack>
  );
}

const role: DataTableColumn<{ role: string }> = { accessor: 'role', title: 'Role', width: 100 };

function Tokens() {
  return (
    <CredentialTable<Token>
      kind="tokens"
      fetch={() => ok(api.GET('/api/tokens', { params: page }))}
      rowId={(t) => t.id}
      isLive={(t) => !t.revokedAt && !(t.expiresAt && Date.parse(t.expiresAt) <= Date.now())}
      empty="No API tokens"
      columns={[
        {
          accessor: 'name',
          title: 'Name',
          render: (t) => (
            <>
              <Text size="sm" style={{ wordBreak: 'break-word' }}>
                {t.name}
              </Text>
              <Text size="xs" c="dimmed" style={{ wordBreak: 'break-all' }}>
                {t.kind === 'access' ? `access token of app ${t.appId ?? '?'}` : 'API token'} · {t.id}
              </Text>
            </>
          ),
        },
        role as DataTableColumn<Token>,
        { accessor: 'createdAt', title: 'Created', render: (t) => <Made at={t.createdAt} by={t.createdBy} /> },
        { accessor: 'lastUsedAt', title: 'Last used', render: (t) => <LastUsed at={t.lastUsedAt} /> },
        { accessor: 'revokedAt', title: 'State', render: (t) => <State endedAt={t.revokedAt} endedBy={t.revokedBy} ended="Revoked" expiresAt={t.expiresAt} /> },
      ]}
      revoke={(t) => ({
        label: 'Revoke',
        verb: 'Revoke token',
        title: `Revoke ${t.kind === 'access' ? 'access' : 'API'} token ${t.name}`,
        consequence: 'Every request with this token is refused from then on (401, as an unknown token). This cannot be undone: make a new token if it is still needed.',
        done: `Token ${t.name} revoked`,
        submit: (comment) => ok(api.DELETE('/api/tokens/{id}', { params: { path: { id: t.id } }, body: { comment } })),
      })}
    />
  );
}

function Apps() {
  return (
    <CredentialTable<App>
      kind="apps"
      fetch={() => ok(api.GET('/api/apps', { params: page }))}
      rowId={(a) => a.clientId}
      isLive={(a) => !a.revokedAt}
      empty="No apps registered"
      columns={[
        {
          accessor: 'name',
          title: 'Name',
          render: (a) => (
            <>
              <Text size="sm" style={{ wordBreak: 'break-word' }}>
                {a.name}
              </Text>
              <Text size="xs" c="dimmed" style={{ wordBreak: 'break-all' }}>
                client id {a.clientId}
              </Text>
            </>
          ),
        },
        role as DataTableColumn<App>,
        { accessor: 'createdAt', title: 'Created', render: (a) => <Made at={a.createdAt} by={a.createdBy} /> },
        { accessor: 'lastUsedAt', title: 'Last used', render: (a) => <LastUsed at={a.lastUsedAt} /> },
        { accessor: 'revokedAt', title: 'State', render: (a) => <State endedAt={a.revokedAt} endedBy={a.revokedBy} ended="Revoked" /> },
      ]}
      revoke={(a) => ({
        label: 'Revoke',
        verb: 'Revoke app',
        title: `Revoke app ${a.name}`,
        consequence: "The app's client secret is refused from then on and the access tokens it holds stop working at once.",
        done: `App ${a.name} revoked`,
        submit: (comment) => ok(api.DELETE('/api/apps/{clientId}', { params: { path: { clientId: a.clientId } }, body: { comment } })),
      })}
    />
  );
}

function Users() {
  return (
    <CredentialTable<User>
      kind="users"
      fetch={() => ok(api.GET('/api/users', { params: page }))}
      rowId={(u) => u.id}
      isLive={(u) => !u.disabledAt}
      empty="No console users"
      columns={[
        { accessor: 'username', title: 'User name', render: (u) => <Text size="sm" style={{ wordBreak: 'break-word' }}>{u.username}</Text> },
        role as DataTableColumn<User>,
        { accessor: 'createdAt', title: 'Created', render: (u) => <Made at={u.createdAt} by={u.createdBy} /> },
        { accessor: 'lastUsedAt', title: 'Last sign-in or use', render: (u) => <LastUsed at={u.lastUsedAt} /> },
        { accessor: 'disabledAt', title: 'State', render: (u) => <State endedAt={u.disabledAt} endedBy={u.disabledBy} ended="Disabled" /> },
      ]}
      revoke={(u) => ({
        label: 'Disable',
        verb: 'Disable user',
        title: `Disable user ${u.username}`,
        consequence: 'Their console sessions end at once and signing in is refused from then on.',
        done: `User ${u.username} disabled`,
        submit: (comment) => ok(api.DELETE('/api/users/{username}', { params: { path: { username: u.username } }, body: { comment } })),
      })}
    />
  );
}

function EnrollmentTokens() {
  return (
    <CredentialTable<EnrollmentToken>
      kind="enrollmentTokens"
      fetch={() => ok(api.GET('/api/enrollmentTokens', { params: page }))}
      rowId={(e) => e.id}
      isLive={(e) => !e.revokedAt && Date.parse(e.expiresAt) > Date.now()}
      empty="No enrollment tokens"
      columns={[
        { accessor: 'id', title: 'Id', render: (e) => <Text size="sm" style={{ wordBreak: 'break-all' }}>{e.id}</Text> },
        { accessor: 'createdAt', title: 'Created', render: (e) => <Made at={e.createdAt} by={e.createdBy} /> },
        { accessor: 'lastUsedAt', title: 'Last enrollment', render: (e) => <LastUsed at={e.lastUsedAt} /> },
        { accessor: 'revokedAt', title: 'State', render: (e) => <State endedAt={e.revokedAt} endedBy={e.revokedBy} ended="Revoked" expiresAt={e.expiresAt} /> },
      ]}
      revoke={(e) => ({
        label: 'Revoke',
        verb: 'Revoke token',
        title: 'Revoke enrollment token',
        consequence: `No device enrolls with token ${e.id} from then on. Devices already enrolled with it keep their own credentials.`,
        done: 'Enrollment token revoked',
        submit: (comment) => ok(api.DELETE('/api/enrollmentTokens/{id}', { params: { path: { id: e.id } }, body: { comment } })),
      })}
    />
  );
}

const TABS = [
  { value: 'tokens', label: 'API tokens', panel: <Tokens /> },
  { value: 'apps', label: 'Apps', panel: <Apps /> },
  { value: 'users', label: 'Users', panel: <Users /> },
  { value: 'enrollmentTokens', label: 'Enrollment tokens', panel: <EnrollmentTokens /> },
];

/** Administration: what the server hands out, and revoking it. Admins only (the API says so to anyone else). */
export function CredentialsPage() {
  const [params, setParams] = useSearchParams();
  const tab = TABS.some((t) => t.value === params.get('kind')) ? params.get('kind')! : 'tokens';
  return (
    <Stack>
      <Title order={2}>Credentials</Title>
      <Text size="sm" c="dimmed">
        Everything that can sign in or call the API, newest first; never a secret. Create them with the CLI (<Code>cordon token create</Code>, <Code>cordon user create</Code>…).
      </Text>
      {/* Only the open tab is mounted, so only its list is fetched. */}
      <Tabs value={tab} onChange={(v) => setParams(v && v !== 'tokens' ? { kind: v } : {}, { replace: true })} keepMounted={false}>
        <Tabs.List>
          {TABS.map((t) => (
            <Tabs.Tab key={t.value} value={t.value}>
              {t.label}
            </Tabs.Tab>
          ))}
        </Tabs.List>
        {TABS.map((t) => (
          <Tabs.Panel key={t.value} value={t.value} pt="md">
            {t.panel}
          </Tabs.Panel>
        ))}
      </Tabs>
    </Stack>
  );
}
