import { Anchor, Stack, Text, Title } from '@mantine/core';
import { Link } from 'react-router';

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
