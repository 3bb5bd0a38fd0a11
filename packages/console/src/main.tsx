import '@mantine/core/styles.css';
import '@mantine/notifications/styles.css';
import 'mantine-datatable/styles.css';
import { Combobox, MantineProvider, createTheme } from '@mantine/core';
import { Notifications } from '@mantine/notifications';
import { QueryClientProvider } from '@tanstack/react-query';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { RouterProvider, createBrowserRouter } from 'react-router';
import { keys, queryClient, signInPath, whenUnauthorized } from './api';
import { AppLayout } from './components/AppLayout';
import { ActionCenterPage } from './pages/ActionCenter';
import { AlertRoute } from './pages/Alert';
import { AlertsPage, prefetchAlerts } from './pages/Alerts';
import { AuditLogPage } from './pages/AuditLog';
import { CredentialsPage } from './pages/Credentials';
import { DashboardPage } from './pages/Dashboard';
import { DeviceRoute } from './pages/Device';
import { DeviceGroupsPage } from './pages/DeviceGroups';
import { DevicesPage } from './pages/Devices';
import { IndicatorsPage } from './pages/Indicators';
import { LiveSessionRoute } from './pages/LiveSession';
import { CrashPage, NotFoundPage } from './pages/NotFound';
import { SignInPage } from './pages/SignIn';
import { prefetchMe, RequireSession } from './session';

const router = createBrowserRouter([
  { path: '/signin', element: <SignInPage /> },
  {
    element: (
      <RequireSession>
        <AppLayout />
      </RequireSession>
    ),
    // Loaders only start requests (they answer at once): who is signed in, and a page's list,
    // are asked for together while the console renders, instead of one after the other.
    loader: () => {
      prefetchMe();
      return null;
    },
    errorElement: <CrashPage />,
    children: [
      { path: '/', element: <DashboardPage /> },
      {
        path: '/alerts',
        element: <AlertsPage />,
        loader: ({ request }) => {
          prefetchAlerts(new URL(request.url).searchParams);
          return null;
        },
      },
      { path: '/alerts/:id', element: <AlertRoute /> },
      { path: '/devices', element: <DevicesPage /> },
      { path: '/devices/:id', element: <DeviceRoute /> },
      { path: '/devices/:machineId/live/:sessionId', element: <LiveSessionRoute /> },
      { path: '/actions', element: <ActionCenterPage /> },
      { path: '/indicators', element: <IndicatorsPage /> },
      // Admins only: the navigation shows them to admins, and the API refuses everyone else.
      { path: '/admin/credentials', element: <CredentialsPage /> },
      { path: '/admin/audit', element: <AuditLogPage /> },
      { path: '/admin/groups', element: <DeviceGroupsPage /> },
      { path: '*', element: <NotFoundPage /> },
    ],
  },
]);

// An expired session, noticed by any request, returns to sign-in and then to this very page.
whenUnauthorized(() => {
  if (window.location.pathname === '/signin') return;
  queryClient.removeQueries({ queryKey: keys.me });
  void router.navigate(signInPath());
});

const theme = createTheme({
  primaryColor: 'indigo',
  defaultRadius: 'sm',
  components: {
    // Mantine keeps every closed select's options in the page and positions them on mount: four
    // forced style recalculations on the Alerts page's first render (~100 ms). Options are made
    // when a list opens instead.
    Combobox: Combobox.extend({ defaultProps: { keepMounted: false } }),
  },
});

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <MantineProvider theme={theme} defaultColorScheme="auto">
      <Notifications position="top-right" />
      <QueryClientProvider client={queryClient}>
        <RouterProvider router={router} />
      </QueryClientProvider>
    </MantineProvider>
  </StrictMode>,
);
