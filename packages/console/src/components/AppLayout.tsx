import { ActionIcon, Anchor, AppShell, Badge, Divider, Group, Menu, NavLink, Switch, Text, Title, Tooltip, useComputedColorScheme, useMantineColorScheme } from '@mantine/core';
import { IconAlertCircle, IconDeviceDesktop, IconDevicesPc, IconFingerprint, IconKey, IconLayoutDashboard, IconListCheck, IconListDetails, IconLogout, IconMoon, IconSun, IconUser } from '@tabler/icons-react';
import { useQueryClient } from '@tanstack/react-query';
import { Link, Outlet, useLocation, useNavigate } from 'react-router';
import { api, setCsrfToken } from '../api';
import { setTimesInUtc, useTimesInUtc } from '../format';
import { useLiveUpdates } from '../live';
import { useCan, useMe, type Permission } from '../session';
import { ActionDetailPane } from './ActionDetail';
import { DeviceSearch } from './DeviceSearch';

const NAV = [
  { to: '/', label: 'Dashboard', icon: IconLayoutDashboard, exact: true },
  { to: '/alerts', label: 'Alerts', icon: IconAlertCircle },
  { to: '/devices', label: 'Devices', icon: IconDeviceDesktop },
  { to: '/actions', label: 'Action center', icon: IconListCheck },
  { to: '/indicators', label: 'Indicators', icon: IconFingerprint },
];

/** Administration, shown to roles that hold one of the permissions (admins); the API checks again. */
const ADMIN_NAV: { to: string; label: string; icon: typeof IconKey; needs: Permission[] }[] = [
  { to: '/admin/credentials', label: 'Credentials', icon: IconKey, needs: ['admin.tokens', 'admin.users', 'admin.enrollment'] },
  { to: '/admin/groups', label: 'Device groups', icon: IconDevicesPc, needs: ['groups.write'] },
  { to: '/admin/audit', label: 'Audit log', icon: IconListDetails, needs: ['audit.read'] },
];

export function AppLayout() {
  const me = useMe();
  const can = useCan();
  const adminNav = ADMIN_NAV.filter((n) => n.needs.some(can));
  const live = useLiveUpdates();
  const location = useLocation();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const { setColorScheme } = useMantineColorScheme();
  const scheme = useComputedColorScheme('light');
  const utc = useTimesInUtc();

  const signOut = async () => {
    await api.POST('/api/auth/signout').catch(() => undefined);
    setCsrfToken(undefined);
    queryClient.clear();
    void navigate('/signin');
  };

  return (
    <AppShell header={{ height: 56 }} navbar={{ width: 200, breakpoint: 'sm' }} padding="md">
      <AppShell.Header>
        <Group h="100%" px="md" justify="space-between" wrap="nowrap">
          <Group gap="sm" wrap="nowrap">
            <Anchor component={Link} to="/" c="inherit" underline="never" aria-label="Cordon: dashboard">
              <Title order={3}>Cordon</Title>
            </Anchor>
            <Tooltip label={live === 'live' ? 'Changes appear as they happen' : 'Reconnecting to live updates…'}>
              <Badge size="sm" variant="dot" color={live === 'live' ? 'green' : 'orange'} data-testid="live-state">
                {live === 'live' ? 'Live' : 'Reconnecting'}
              </Badge>
            </Tooltip>
          </Group>
          <DeviceSearch />
          <Group gap="xs" wrap="nowrap">
            <Tooltip label={scheme === 'dark' ? 'Light theme' : 'Dark theme'}>
              <ActionIcon variant="subtle" aria-label="Toggle colour theme" onClick={() => setColorScheme(scheme === 'dark' ? 'light' : 'dark')}>
                {scheme === 'dark' ? <IconSun size={18} /> : <IconMoon size={18} />}
              </ActionIcon>
            </Tooltip>
            <Menu position="bottom-end">
              <Menu.Target>
                <ActionIcon variant="subtle" aria-label="Account" data-testid="account-menu">
                  <IconUser size={18} />
                </ActionIcon>
              </Menu.Target>
              <Menu.Dropdown>
                <Menu.Label>
                  <Text size="sm" fw={500}>
                    {me.name}
                  </Text>
                  <Text size="xs">Role: {me.role}</Text>
                </Menu.Label>
                <Menu.Divider />
                {/* A setting, not a command: it stays open to show the switch moved. */}
                <Switch px="sm" py={6} size="xs" label="Show times in UTC" checked={utc} onChange={(e) => setTimesInUtc(e.currentTarget.checked)} data-testid="times-in-utc" />
                <Menu.Divider />
                <Menu.Item leftSection={<IconLogout size={16} />} onClick={() => void signOut()}>
                  Sign out
                </Menu.Item>
              </Menu.Dropdown>
            </Menu>
          </Group>
        </Group>
      </AppShell.Header>
      <AppShell.Navbar p="xs" aria-label="Main">
        {NAV.map((n) => (
          <NavLink
            key={n.to}
            component={Link}
            to={n.to}
            label={n.label}
            leftSection={<n.icon size={18} />}
            active={n.exact ? location.pathname === n.to : location.pathname.startsWith(n.to)}
          />
        ))}
        {adminNav.length > 0 && (
          <nav aria-label="Administration" data-testid="admin-nav">
            <Divider my="xs" label="Administration" labelPosition="left" />
            {adminNav.map((n) => (
              <NavLink key={n.to} component={Link} to={n.to} label={n.label} leftSection={<n.icon size={18} />} active={location.pathname.startsWith(n.to)} />
            ))}
          </nav>
        )}
      </AppShell.Navbar>
      <AppShell.Main>
        <Outlet />
        <ActionDetailPane />
      </AppShell.Main>
    </AppShell>
  );
}
