import { Alert, Button, Center, Paper, PasswordInput, Stack, TextInput, Title } from '@mantine/core';
import { useForm } from '@mantine/form';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useNavigate, useSearchParams } from 'react-router';
import { api, keys, messageOf, ok, setCsrfToken } from '../api';

/** Only a path of this console is followed after sign-in, never another origin. */
function safeNext(next: string | null): string {
  if (!next || !next.startsWith('/') || /[\\\p{Cc}]/u.test(next)) return '/';
  const url = new URL(next, window.location.origin);
  if (url.origin !== window.location.origin || url.pathname.startsWith('/signin')) return '/';
  return url.pathname + url.search + url.hash;
}

export function SignInPage() {
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const form = useForm({
    initialValues: { username: '', password: '' },
    validate: { username: (v) => (v.trim() ? null : 'Enter your user name'), password: (v) => (v ? null : 'Enter your password') },
  });
  const signIn = useMutation({
    mutationFn: (v: { username: string; password: string }) => ok(api.POST('/api/auth/signin', { body: { username: v.username.trim(), password: v.password } })),
    onSuccess: async (s) => {
      setCsrfToken(s.csrfToken);
      queryClient.removeQueries({ queryKey: keys.me });
      await navigate(safeNext(params.get('next')), { replace: true });
    },
  });

  return (
    <Center mih="100vh" p="md">
      <Paper withBorder shadow="sm" p="xl" w={380}>
        <form onSubmit={form.onSubmit((v) => signIn.mutate(v))}>
          <Stack>
            <Title order={2}>Sign in to Cordon</Title>
            {/* Only with a real place to return to: a first visit to the start page is just a sign-in. */}
            {safeNext(params.get('next')) !== '/' && !signIn.error && <Alert color="blue">Sign in to continue where you were.</Alert>}
            {signIn.error && (
              <Alert color="red" role="alert" data-testid="signin-error">
                {messageOf(signIn.error)}
              </Alert>
            )}
            <TextInput label="User name" autoComplete="username" autoFocus {...form.getInputProps('username')} />
            <PasswordInput label="Password" autoComplete="current-password" {...form.getInputProps('password')} />
            <Button type="submit" loading={signIn.isPending}>
              Sign in
            </Button>
          </Stack>
        </form>
      </Paper>
    </Center>
  );
}
