import { Anchor, Stack, Text, Title } from '@mantine/core';
import { Link, useRouteError } from 'react-router';

export function NotFoundPage() {
  return (
    <Stack>
      <Title order={2}>Page not found</Title>
      <Text>
        Nothing lives at this address. Go to the <Anchor component={Link} to="/devices">devices list</Anchor>.
      </Text>
    </Stack>
  );
}

/** A page that failed to render: say so, with a way out, instead of a blank screen. */
export function CrashPage() {
  const error = useRouteError();
  return (
    <Stack p="xl">
      <Title order={2}>Something went wrong on this page</Title>
      <Text>{error instanceof Error ? error.message : String(error)}</Text>
      <Text>
        Go to the <Anchor href="/devices">devices list</Anchor> or reload the page.
      </Text>
    </Stack>
  );
}
